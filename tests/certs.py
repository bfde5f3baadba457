"""Test certificates made on the spot with `cryptography`: a CA, an
intermediate, leaves with any names, dates and key type, in any encoding."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def new_key(kind="ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    @property
    def pem(self):
        return self.cert.public_bytes(PEM).decode()

    @property
    def der(self):
        return self.cert.public_bytes(DER)

    @property
    def fingerprint(self):
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def key_pem(self, form="pkcs8", passphrase=None):
        formats = {
            "pkcs8": serialization.PrivateFormat.PKCS8,
            "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
        }
        encryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(PEM, formats[form], encryption).decode()

    def key_der(self):
        return self.key.private_bytes(
            DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sign_with(key):
    # Ed25519 signs without a separate hash.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def issue(
    common_name,
    names=(),
    issuer=None,
    key_kind="ec",
    ca=False,
    days=90,
    starts_in_days=-1,
):
    """A certificate for `names` signed by `issuer` (self-signed if None)."""
    key = new_key(key_kind)
    now = datetime.now(UTC)
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=starts_in_days))
        .not_valid_after(now + timedelta(days=starts_in_days + days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
        builder = builder.add_extension(san, critical=False)
    return Issued(builder.sign(signer, _sign_with(signer)), key)


@dataclass
class Authority:
    root: Issued
    intermediate: Issued

    def leaf(self, *names, **kwargs):
        return issue(names[0], names, issuer=self.intermediate, **kwargs)


def authority(name="Test"):
    root = issue(f"{name} Root CA", ca=True, days=3650)
    intermediate = issue(f"{name} Intermediate CA", issuer=root, ca=True, days=3650)
    return Authority(root, intermediate)
