"""Certificates near their end: `caddy_certs` reports them and fails, and
the sync's failure notification fires once for the episode."""

import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from site_management.caddy.sync import expiry_warnings, sync_all
from site_management.models import CaddyNode, Certificate, Site
from tests.certs import authority
from tests.conftest import wait_for_sync
from tests.support import create_site

CA = authority("Expiry")
OPS = "ops@example.test"


def upload(name, host, days):
    leaf = CA.leaf(host, days=days)
    cert = Certificate.objects.create(
        name=name,
        certificate=leaf.pem,
        chain=CA.intermediate.pem,
        private_key=leaf.key_pem(),
    )
    return cert, leaf


@pytest.mark.django_db
def test_caddy_certs_lists_certificates_and_fails_on_one_expiring_soon(
    settings, capsys
):
    settings.CADDY_CERT_WARN_DAYS = 14
    soon, leaf = upload("soon", "soon.test", days=10)
    upload("later", "later.test", days=90)
    create_site("soon.test", "127.0.0.1:9", protocol="https", certificate=soon)

    with pytest.raises(CommandError, match="within 14 days: soon"):
        call_command("caddy_certs")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("soon: soon.test  8 days left")
    assert leaf.fingerprint in lines[0] and "sites: soon.test" in lines[0]
    assert lines[1].startswith("later: later.test  88 days left")


@pytest.mark.django_db
def test_caddy_certs_succeeds_when_nothing_in_use_is_near_expiry(settings, capsys):
    settings.CADDY_CERT_WARN_DAYS = 14
    later, _ = upload("later", "later.test", days=90)
    create_site("later.test", "127.0.0.1:9", protocol="https", certificate=later)
    upload("unused", "unused.test", days=3)

    call_command("caddy_certs")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("unused: unused.test  1 day left")
    assert "no site" in lines[0]


@pytest.mark.django_db
def test_a_certificate_no_site_uses_raises_no_expiry_warning(settings):
    settings.CADDY_CERT_WARN_DAYS = 14
    upload("unused", "unused.test", days=3)
    used, _ = upload("used", "used.test", days=5)
    create_site("used.test", "127.0.0.1:9", protocol="https", certificate=used)

    assert expiry_warnings() == ["certificate used expires in 3 days"]


@pytest.mark.caddy
def test_a_certificate_near_expiry_notifies_once_per_episode(
    caddy, upstreams, settings
):
    settings.CADDY_NOTIFY_EMAILS = [OPS]
    settings.CADDY_CERT_WARN_DAYS = 14
    cert, _ = upload("soon", "soon.test", days=10)
    create_site(
        "soon.test", upstreams("app").address, protocol="https", certificate=cert
    )
    wait_for_sync()
    sync_all("again")
    sync_all("and again")

    node = CaddyNode.objects.get(name="default")
    assert node.last_result in ("applied", "unchanged")  # served all the same
    assert re.search(r"certificate soon expires in \d+ days", node.last_error)
    failed = [m for m in mail.outbox if "is failing" in m.subject]
    assert len(failed) == 1
    assert "certificate soon expires in 8 days" in failed[0].body

    Site.objects.all().delete()
    cert.delete()
    wait_for_sync()
    recovered = [m for m in mail.outbox if "has recovered" in m.subject]
    assert len(recovered) == 1
