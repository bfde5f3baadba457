"""Uploaded certificates served by a real Caddy, checked with real TLS
handshakes: the exact certificate per SNI, replacement without a restart,
fallback after deletion, and the key files' privacy."""

import os
import socket
import ssl
import stat
from hashlib import sha256
from pathlib import Path

import pytest
from cryptography import x509
from django.conf import settings
from django.db import connection

from site_management.caddy import certfiles
from site_management.caddy.sync import sync_all
from site_management.models import Certificate, Site
from tests.certs import authority
from tests.conftest import wait_for_sync
from tests.support import (
    OperationsLog,
    assert_serves,
    create_site,
    eventually,
    manage,
)

pytestmark = [pytest.mark.caddy]
CA = authority("Serving")


def tls_context(root_pem=None):
    if root_pem is None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context
    return ssl.create_default_context(cadata=root_pem)


def peer_certificate(caddy, sni, root_pem=None):
    """The DER certificate Caddy presents for `sni` (verified when a root is
    given)."""
    with socket.create_connection(("127.0.0.1", caddy.https_port), timeout=10) as raw:
        with tls_context(root_pem).wrap_socket(raw, server_hostname=sni) as tls:
            return tls.getpeercert(binary_form=True)


def https_get(caddy, host, root_pem):
    """GET / over TLS with SNI and Host both `host`; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", caddy.https_port), timeout=10) as raw:
        with tls_context(root_pem).wrap_socket(raw, server_hostname=host) as tls:
            request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def fingerprint(der):
    return sha256(der).hexdigest()


def upload(name, leaf):
    return Certificate.objects.create(
        name=name,
        certificate=leaf.pem,
        chain=CA.intermediate.pem,
        private_key=leaf.key_pem(),
    )


def caddy_root(caddy):
    return (caddy.base / "data/caddy/pki/authorities/local/root.crt").read_text()


def issued_certificate(caddy, sni):
    """The certificate for `sni` once Caddy has one; until its CA has issued
    it (that happens in the background after a load) the handshake fails."""
    try:
        return peer_certificate(caddy, sni)
    except (ssl.SSLError, OSError):
        return None


def issuer_name(der):
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def test_it_serves_exactly_the_uploaded_certificate_for_its_host(caddy, upstreams):
    app = upstreams("app")
    leaf = CA.leaf("secure.test")
    cert = upload("secure", leaf)
    create_site("secure.test", app.address, protocol="https", certificate=cert)
    wait_for_sync()

    served = peer_certificate(caddy, "secure.test", CA.root.pem)
    assert fingerprint(served) == leaf.fingerprint
    assert https_get(caddy, "secure.test", CA.root.pem) == (200, "upstream app")
    assert caddy.get("secure.test").status_code == 308


def test_an_auto_ssl_site_is_served_by_caddys_internal_ca(caddy, upstreams):
    app = upstreams("app")
    create_site("auto.test", app.address, protocol="https", auto_ssl=True)
    wait_for_sync()

    served = eventually(lambda: issued_certificate(caddy, "auto.test"), timeout=30)
    assert "Caddy Local Authority" in issuer_name(served)
    # Verified against the root Caddy made under its data folder.
    assert peer_certificate(caddy, "auto.test", caddy_root(caddy)) == served
    assert https_get(caddy, "auto.test", caddy_root(caddy)) == (200, "upstream app")


def test_a_replaced_certificate_is_served_without_a_restart(caddy, upstreams):
    app = upstreams("app")
    first, second = CA.leaf("swap.test"), CA.leaf("swap.test", key_kind="rsa")
    cert = upload("swap", first)
    create_site("swap.test", app.address, protocol="https", certificate=cert)
    wait_for_sync()
    pid = caddy.process.pid
    assert fingerprint(peer_certificate(caddy, "swap.test")) == first.fingerprint

    cert.certificate, cert.private_key = second.pem, second.key_pem("traditional")
    cert.save()
    wait_for_sync()

    assert fingerprint(peer_certificate(caddy, "swap.test")) == second.fingerprint
    assert caddy.process.pid == pid
    assert https_get(caddy, "swap.test", CA.root.pem) == (200, "upstream app")
    # The old certificate's files are gone once nothing uses them.
    assert not Path(certfiles.paths(first.fingerprint)[1]).exists()


def test_deleting_a_certificate_makes_each_site_fall_back_as_it_says(caddy, upstreams):
    app, other = upstreams("app"), upstreams("other")
    cert = upload("shared", CA.leaf("fallback.test", "strict.test"))
    create_site("fallback.test", app.address, protocol="https", auto_ssl=True)
    fallback = Site.objects.get(host="fallback.test")
    fallback.certificate = cert
    fallback.save()
    strict = create_site("strict.test", app.address, protocol="https", certificate=cert)
    create_site("plain.test", other.address)
    wait_for_sync()
    assert https_get(caddy, "strict.test", CA.root.pem) == (200, "upstream app")

    cert.delete()
    wait_for_sync()

    served = eventually(lambda: issued_certificate(caddy, "fallback.test"), timeout=30)
    assert "Caddy Local Authority" in issuer_name(served)
    assert https_get(caddy, "fallback.test", caddy_root(caddy)) == (200, "upstream app")
    strict.refresh_from_db()
    assert strict.sync_status == "failed"
    assert "needs an uploaded certificate" in strict.sync_error
    assert_serves(caddy, "plain.test", other)

    # Caddy runs all that could be applied, yet one site is not served.
    status = manage(caddy, "caddy_status")
    assert status.returncode == 1
    assert "1 site(s) not live: strict.test" in status.stderr


def test_a_certificate_broken_in_sql_refuses_only_its_site(caddy, upstreams):
    app, other = upstreams("app"), upstreams("other")
    broken = upload("broken", CA.leaf("broken.test"))
    create_site("broken.test", app.address, protocol="https", certificate=broken)
    create_site("plain.test", other.address)
    wait_for_sync()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Certificate._meta.db_table} SET private_key = %s",
            ["garbage"],
        )
    key_file = Path(certfiles.paths(broken.fingerprint_sha256)[1])
    key_file.unlink()  # as on a fresh machine: the sync writes the files anew

    sync_all("test")

    site = Site.objects.get(host="broken.test")
    assert site.sync_status == "failed"
    assert "certificate broken is unusable" in site.sync_error
    # Caddy restarted empty takes the rest: no file of the broken pair is used.
    caddy.stop()
    caddy.start()
    sync_all("after restart")
    assert_serves(caddy, "plain.test", other)
    assert not key_file.exists()


def test_key_files_are_private_and_the_key_is_never_logged(caddy, upstreams):
    app = upstreams("app")
    oplog = OperationsLog()
    leaf = CA.leaf("private.test")
    cert = upload("private", leaf)
    create_site("private.test", app.address, protocol="https", certificate=cert)
    wait_for_sync()

    cert_file, key_file = map(Path, certfiles.paths(leaf.fingerprint))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.stat().st_uid == os.getuid()
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.read_text() == cert.private_key
    assert cert_file.read_text().startswith(leaf.pem)

    key_line = cert.private_key.splitlines()[1]
    assert key_line not in oplog.new_text()
    assert key_line not in caddy.log_path.read_text(errors="replace")
    assert str(settings.CADDY_BASE_PATH) in str(key_file)
