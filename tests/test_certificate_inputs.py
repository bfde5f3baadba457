"""What an operator may upload as a certificate, chain and key.

Each case is an upload (certificate, chain, key, passphrase) and a site host
it should serve; the expected outcome is either accepted (with the stored,
canonical form checked) or refused on a named field with a precise message.
No Caddy is needed here; tests/test_certificate_serving.py serves them.
"""

import pytest
from django.core.exceptions import ValidationError

from site_management.certificates import ENCRYPTED_KEY, covers
from site_management.models import Certificate, Site
from tests.certs import authority

HOST = "shop.example.com"
CA = authority("Inputs")
OTHER_CA = authority("Other")


def upload(leaf, key=None, chain=None, passphrase=None, certificate=None):
    return {
        "certificate": certificate if certificate is not None else leaf.pem,
        "chain": chain if chain is not None else CA.intermediate.pem,
        "private_key": key if key is not None else leaf.key_pem(),
        "passphrase": passphrase,
    }


def rsa_pkcs1():
    leaf = CA.leaf(HOST, key_kind="rsa")
    return upload(leaf, leaf.key_pem("traditional"))


def rsa_pkcs8():
    leaf = CA.leaf(HOST, key_kind="rsa")
    return upload(leaf, leaf.key_pem("pkcs8"))


def ec_sec1():
    leaf = CA.leaf(HOST, key_kind="ec")
    assert "BEGIN EC PRIVATE KEY" in leaf.key_pem("traditional")
    return upload(leaf, leaf.key_pem("traditional"))


def ec_pkcs8():
    return upload(CA.leaf(HOST, key_kind="ec"))


def ed25519_pkcs8():
    return upload(CA.leaf(HOST, key_kind="ed25519"))


def encrypted(passphrase):
    leaf = CA.leaf(HOST)
    return upload(leaf, leaf.key_pem(passphrase="s3cret"), passphrase=passphrase)


def mismatched_key():
    return upload(CA.leaf(HOST), CA.leaf(HOST).key_pem())


def for_host(*names):
    return lambda: upload(CA.leaf(*names))


def dated(**kwargs):
    return lambda: upload(CA.leaf(HOST, **kwargs))


def chain_in_wrong_order():
    leaf = CA.leaf(HOST)
    # The leaf last in its field and the chain root-first.
    return upload(
        leaf,
        certificate=CA.intermediate.pem + leaf.pem,
        chain=CA.root.pem,
    )


def chain_that_does_not_link():
    return upload(CA.leaf(HOST), chain=OTHER_CA.intermediate.pem)


def crlf_and_stray_whitespace():
    leaf = CA.leaf(HOST)
    messy = lambda text: "\r\n  " + text.replace("\n", "  \r\n") + "\r\n\r\n"  # noqa: E731
    return upload(
        leaf,
        messy(leaf.key_pem()),
        chain=messy(CA.intermediate.pem),
        certificate=messy(leaf.pem),
    )


def der_files():
    leaf = CA.leaf(HOST)
    return upload(leaf, leaf.key_der(), chain="", certificate=leaf.der)


ACCEPTED = [
    pytest.param(rsa_pkcs1, HOST, id="rsa-pkcs1"),
    pytest.param(rsa_pkcs8, HOST, id="rsa-pkcs8"),
    pytest.param(ec_sec1, HOST, id="ec-sec1"),
    pytest.param(ec_pkcs8, HOST, id="ec-pkcs8"),
    pytest.param(ed25519_pkcs8, HOST, id="ed25519-pkcs8"),
    pytest.param(lambda: encrypted("s3cret"), HOST, id="encrypted-right-passphrase"),
    pytest.param(for_host("*.example.com"), HOST, id="wildcard-covers"),
    pytest.param(for_host("*.example.com"), "*.example.com", id="wildcard-site"),
    pytest.param(chain_in_wrong_order, HOST, id="chain-wrong-order"),
    pytest.param(crlf_and_stray_whitespace, HOST, id="crlf"),
    pytest.param(der_files, HOST, id="der"),
]

REFUSED = [
    pytest.param(lambda: encrypted(None), "private_key", ENCRYPTED_KEY, id="encrypted"),
    pytest.param(
        lambda: encrypted("wrong"), "passphrase", "wrong passphrase", id="wrong-pass"
    ),
    pytest.param(mismatched_key, "private_key", "does not match", id="mismatched-key"),
    pytest.param(
        dated(days=10, starts_in_days=-30), "certificate", "expired", id="old"
    ),
    pytest.param(
        dated(starts_in_days=5), "certificate", "not valid yet", id="not-yet-valid"
    ),
    pytest.param(chain_that_does_not_link, "chain", "does not link", id="bad-chain"),
    pytest.param(
        lambda: upload(CA.leaf(HOST, key_kind="rsa1024")),
        "private_key",
        "1024 bits is too weak",
        id="weak-rsa",
    ),
]

NOT_COVERING = [
    pytest.param(for_host("other.example.org"), HOST, id="another-host"),
    pytest.param(for_host("*.example.com"), "a.shop.example.com", id="wildcard-deep"),
    pytest.param(for_host("*.example.com"), "example.com", id="wildcard-apex"),
]


def saved_certificate(make, name="uploaded"):
    data = make()
    cert = Certificate(
        name=name,
        certificate=data["certificate"],
        chain=data["chain"],
        private_key=data["private_key"],
    )
    cert.passphrase = data["passphrase"]
    cert.save()
    return cert


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "host"), ACCEPTED)
def test_it_accepts_and_stores_the_canonical_form(make, host, settings):
    settings.CADDY_TLS_ISSUER = "acme"
    cert = saved_certificate(make)
    site = Site.objects.create(host=host, protocol="https", certificate=cert)

    cert.refresh_from_db()
    assert cert.private_key.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert "\r" not in cert.certificate + cert.chain + cert.private_key
    assert cert.certificate.count("BEGIN CERTIFICATE") == 1
    assert len(cert.fingerprint_sha256) == 64
    assert covers(cert.names, site.host)
    assert cert.key_type.split()[0] in ("RSA", "EC", "Ed25519")


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "field", "message"), REFUSED)
def test_it_refuses_with_a_message_on_the_field(make, field, message):
    with pytest.raises(ValidationError) as refused:
        saved_certificate(make)

    assert message in " ".join(refused.value.message_dict[field])
    assert not Certificate.objects.exists()


@pytest.mark.django_db
def test_an_encrypted_key_without_passphrase_gets_exactly_the_message():
    with pytest.raises(ValidationError) as refused:
        saved_certificate(lambda: encrypted(None))

    assert refused.value.message_dict == {"private_key": [ENCRYPTED_KEY]}


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "host"), NOT_COVERING)
def test_a_site_the_certificate_does_not_cover_is_refused(make, host):
    cert = saved_certificate(make)

    with pytest.raises(ValidationError) as refused:
        Site.objects.create(host=host, protocol="https", certificate=cert)

    assert "does not cover" in refused.value.message_dict["certificate"][0]
    assert not Site.objects.exists()


@pytest.mark.django_db
def test_renaming_a_site_beyond_its_certificate_is_refused_on_the_host():
    cert = saved_certificate(for_host(HOST))
    site = Site.objects.create(host=HOST, protocol="https", certificate=cert)

    site.host = "elsewhere.example.org"
    with pytest.raises(ValidationError) as refused:
        site.save()

    assert "does not cover elsewhere" in refused.value.message_dict["host"][0]
    assert Site.objects.get().host == HOST


@pytest.mark.django_db
def test_a_chain_given_out_of_order_is_stored_leaf_first():
    cert = saved_certificate(chain_in_wrong_order)

    assert cert.chain == CA.intermediate.pem + CA.root.pem
    assert CA.intermediate.pem not in cert.certificate


@pytest.mark.django_db
def test_https_without_auto_ssl_or_certificate_is_refused():
    with pytest.raises(ValidationError) as refused:
        Site.objects.create(host=HOST, protocol="https")

    assert refused.value.message_dict["auto_ssl"] == [
        "An https site needs auto_ssl or a certificate that covers its host."
    ]


@pytest.mark.django_db
def test_a_replacement_that_no_longer_covers_a_site_is_refused():
    cert = saved_certificate(for_host(HOST))
    Site.objects.create(host=HOST, protocol="https", certificate=cert)
    other = CA.leaf("elsewhere.example.org")

    cert.certificate, cert.private_key = other.pem, other.key_pem()
    with pytest.raises(ValidationError) as refused:
        cert.save()

    assert "no longer covers shop.example.com" in str(refused.value)


def stored_certificates():
    return list(Certificate.objects.order_by("pk").values())


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["certificate", "private_key", "name"])
def test_a_queryset_update_of_a_certificate_gets_the_same_check(field):
    saved_certificate(for_host(HOST))
    before = stored_certificates()

    with pytest.raises(ValidationError) as refused:
        Certificate.objects.update(**{field: "" if field == "name" else "garbage"})

    assert field in refused.value.message_dict
    assert stored_certificates() == before


@pytest.mark.django_db
def test_a_queryset_update_with_a_new_certificate_derives_its_fields():
    cert = saved_certificate(for_host(HOST))
    site = Site.objects.create(host=HOST, protocol="https", certificate=cert)
    renewed = CA.leaf(HOST)

    count = Certificate.objects.update(
        certificate=renewed.pem, private_key=renewed.key_pem()
    )

    assert count == 1
    assert Certificate.objects.get().fingerprint_sha256 == renewed.fingerprint
    site.refresh_from_db()
    assert site.sync_status == "pending"


@pytest.mark.django_db
def test_bulk_writes_of_certificates_are_checked():
    cert = saved_certificate(for_host(HOST))
    before = stored_certificates()

    with pytest.raises(ValidationError) as refused:
        Certificate.objects.bulk_create(
            [Certificate(name="junk", certificate="x", private_key="y")]
        )
    assert "certificate" in refused.value.message_dict

    cert.private_key = "junk"
    with pytest.raises(ValidationError) as refused:
        Certificate.objects.bulk_update([cert], ["private_key"])
    assert "private_key" in refused.value.message_dict
    assert stored_certificates() == before
