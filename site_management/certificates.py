"""Checks for uploaded TLS certificates and keys, with `cryptography`.

Operators paste what their CA or their colleague gave them: PEM or DER, CRLF
line ends, a chain in any order, keys in PKCS#1, PKCS#8 or SEC1 form, with
or without a passphrase. Everything that can be made canonical is (leaf
first, key as unencrypted PKCS#8 PEM); everything else is refused with a
message naming the field and the reason.
"""

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import idna
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ValidationError

ENCRYPTED_KEY = "encrypted key: remove the passphrase or supply it"
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
PEM, SPKI = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


MIN_RSA_BITS = 2048


@dataclass
class Checked:
    """A certificate, its chain and its key, checked and in canonical form."""

    certificate: str
    chain: str
    private_key: str
    key_type: str
    not_before: datetime
    not_after: datetime
    fingerprint: str
    names: list


def _refuse(field, message):
    raise ValidationError({field: message})


def tidy_pem(text):
    """PEM blocks re-wrapped cleanly: CRLF, indentation and blank lines gone."""
    blocks = []
    for label, body in PEM_BLOCK.findall(text.replace("\r", "")):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        # Base64 has no colon, so only the legacy encryption headers have one.
        headers = [line for line in lines if ":" in line]
        payload = "".join(line for line in lines if ":" not in line)
        blocks.append(_pem_block(label, headers, payload))
    return "".join(blocks)


def _pem_block(label, headers, payload):
    wrapped = [payload[i : i + 64] for i in range(0, len(payload), 64)]
    header_text = "\n".join(headers) + "\n\n" if headers else ""
    body = "\n".join(wrapped)
    return f"-----BEGIN {label}-----\n{header_text}{body}\n-----END {label}-----\n"


def certificate_text(value):
    """PEM text for what a field received: PEM text or bytes, or DER bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if b"-----BEGIN" in data:
            return data.decode("ascii", errors="replace")
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            raise ValidationError(
                "not a certificate: neither PEM text nor a DER certificate"
            ) from None
        return cert.public_bytes(PEM).decode()
    return value


def key_text(value):
    """PEM text for a key field: PEM as given, DER converted (an encrypted
    DER key becomes an ENCRYPTED PRIVATE KEY block, decrypted later)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return value
    data = bytes(value)
    if b"-----BEGIN" in data:
        return data.decode("ascii", errors="replace")
    try:
        key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        payload = base64.b64encode(data).decode()
        return _pem_block("ENCRYPTED PRIVATE KEY", [], payload)
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError("not a private key: neither PEM nor DER") from None
    return _pkcs8(key)


def _load_certificates(text, field):
    tidy = tidy_pem(text or "")
    if not tidy:
        _refuse(
            field, "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
        )
    if "-----BEGIN CERTIFICATE-----" not in tidy or "PRIVATE KEY" in tidy:
        _refuse(
            field, "only CERTIFICATE blocks belong here (the key has its own field)"
        )
    try:
        return x509.load_pem_x509_certificates(tidy.encode())
    except ValueError as error:
        _refuse(field, f"the certificate does not parse: {error}")


def _pkcs8(key):
    return key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_key(text, passphrase=None):
    """The private key, decrypted with `passphrase` when it is encrypted."""
    tidy = tidy_pem(text or "")
    if "PRIVATE KEY-----" not in tidy:
        _refuse("private_key", "no PEM private key found (-----BEGIN ... PRIVATE KEY)")
    secret = passphrase.encode() if passphrase else None
    try:
        return serialization.load_pem_private_key(tidy.encode(), password=secret)
    except TypeError:
        if not secret:
            _refuse("private_key", ENCRYPTED_KEY)
        # A passphrase given for a key that has none is harmless.
        return serialization.load_pem_private_key(tidy.encode(), password=None)
    except ValueError as error:
        if secret and "ENCRYPTED" in tidy:
            _refuse("passphrase", "wrong passphrase: the key does not decrypt with it")
        _refuse("private_key", f"the private key does not parse: {error}")
    except UnsupportedAlgorithm as error:
        _refuse("private_key", f"unsupported private key: {error}")


def key_type(key):
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            # Caddy (Go) and current browsers refuse such keys in the
            # handshake, so the site would look live and serve nothing.
            _refuse(
                "private_key",
                f"an RSA key of {key.key_size} bits is too weak for TLS clients; "
                f"use {MIN_RSA_BITS} bits or more",
            )
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    _refuse("private_key", "unsupported key type: use an RSA, EC or Ed25519 key")


def _same_key(cert, key):
    ours = key.public_key().public_bytes(PEM, SPKI)
    return cert.public_key().public_bytes(PEM, SPKI) == ours


def _issued_by(cert, issuer):
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _label(cert):
    return cert.subject.rfc4514_string() or "(empty subject)"


def order_chain(leaf, others):
    """The intermediates leaf-first, each issued by the next; refuse leftovers."""
    ordered, remaining, current = [], list(others), leaf
    while remaining:
        issuer = next((c for c in remaining if _issued_by(current, c)), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        current = issuer
    if remaining:
        _refuse(
            "chain",
            f"the chain does not link: {_label(remaining[0])} did not issue "
            f"{_label(current)} nor any other certificate given here",
        )
    return ordered


def _unique(certs):
    seen, kept = set(), []
    for cert in certs:
        digest = cert.fingerprint(hashes.SHA256())
        if digest not in seen:
            seen.add(digest)
            kept.append(cert)
    return kept


def dns_names(cert):
    """The certificate's DNS subject alternative names, lower-case ASCII."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = []
    for name in san.value.get_values_for_type(x509.DNSName):
        name = name.strip().rstrip(".").lower()
        if not name.isascii():
            prefix = "*." if name.startswith("*.") else ""
            name = prefix + idna.encode(name.removeprefix("*."), uts46=True).decode()
        names.append(name)
    return sorted(set(names))


def covers(names, host):
    """Whether one of `names` covers `host`; a wildcard spans exactly one label."""
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and not host.startswith("*."):
            _first, dot, rest = host.partition(".")
            if dot and rest == name[2:]:
                return True
    return False


def _check_dates(cert, now):
    moment = f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now < cert.not_valid_before_utc:
        _refuse("certificate", f"the certificate is not valid yet: valid from {moment}")
    if now > cert.not_valid_after_utc:
        ended = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        _refuse("certificate", f"the certificate expired on {ended}")


def _find_leaf(given, key):
    """The certificate the key belongs to; the first given one when none."""
    for cert in given:
        if _same_key(cert, key):
            return cert
    _refuse("private_key", "the private key does not match the certificate")


def check(certificate, chain, private_key, passphrase=None, now=None):
    """Check an upload; return a Checked or raise ValidationError by field."""
    certs = _load_certificates(certificate, "certificate")
    extra = _load_certificates(chain, "chain") if (chain or "").strip() else []
    key = load_key(private_key, passphrase)
    kind = key_type(key)

    # The leaf may come anywhere, in either field: the key tells which it is.
    everything = _unique(certs + extra)
    leaf = _find_leaf(everything, key)
    intermediates = order_chain(leaf, [c for c in everything if c is not leaf])
    _check_dates(leaf, now or datetime.now(UTC))
    names = dns_names(leaf)
    if not names:
        _refuse("certificate", "the certificate names no host (no DNS names in SAN)")

    return Checked(
        certificate=leaf.public_bytes(PEM).decode(),
        chain="".join(c.public_bytes(PEM).decode() for c in intermediates),
        private_key=_pkcs8(key),
        key_type=kind,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        names=names,
    )


def stored_problem(certificate, private_key, fingerprint):
    """Why a stored certificate is not the pair its check accepted, or "".

    Rows written around the model (raw SQL) skip check(); a PEM that no
    longer parses, or a key that is not the certificate's, would keep Caddy
    from starting at all, so the sync asks this before it writes the files.
    """
    try:
        leaf = _load_certificates(certificate, "certificate")[0]
        key = load_key(private_key)
    except ValidationError as error:
        return "; ".join(error.messages)
    if leaf.fingerprint(hashes.SHA256()).hex() != fingerprint:
        return "the certificate is not the one that was checked"
    if not _same_key(leaf, key):
        return "the private key does not match the certificate"
    return ""
