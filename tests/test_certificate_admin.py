"""The certificate admin: upload by file (DER too) with a passphrase, the key
never shown back, the list ordered by days left."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from site_management.certificates import ENCRYPTED_KEY
from site_management.models import Certificate
from tests.certs import authority

CA = authority("Admin")
ADD = "/admin/site_management/certificate/add/"


def form(leaf, **extra):
    return {"name": "shop", "chain": CA.intermediate.pem, **extra}


@pytest.mark.django_db
def test_it_uploads_der_files_and_decrypts_with_the_passphrase(admin_client):
    leaf = CA.leaf("shop.test")
    data = form(
        leaf,
        certificate_upload=SimpleUploadedFile("shop.der", leaf.der),
        key_upload=SimpleUploadedFile(
            "shop.key", leaf.key_pem(passphrase="pw").encode()
        ),
        passphrase="pw",
    )

    response = admin_client.post(ADD, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    cert = Certificate.objects.get()
    assert cert.fingerprint_sha256 == leaf.fingerprint
    assert "ENCRYPTED" not in cert.private_key


@pytest.mark.django_db
def test_an_encrypted_key_without_passphrase_is_refused_on_the_key(admin_client):
    leaf = CA.leaf("shop.test")
    data = form(leaf, certificate=leaf.pem, private_key=leaf.key_pem(passphrase="pw"))

    response = admin_client.post(ADD, data)

    assert response.context["adminform"].form.errors["private_key"] == [ENCRYPTED_KEY]
    assert not Certificate.objects.exists()


@pytest.mark.django_db
def test_the_key_is_never_shown_and_an_empty_key_field_keeps_it(admin_client):
    leaf = CA.leaf("shop.test")
    cert = Certificate.objects.create(
        name="shop", certificate=leaf.pem, private_key=leaf.key_pem()
    )
    change = f"/admin/site_management/certificate/{cert.pk}/change/"
    key_line = cert.private_key.splitlines()[1]

    page = admin_client.get(change).content.decode()
    assert key_line not in page
    assert cert.fingerprint_sha256 in page

    response = admin_client.post(change, {"name": "renamed", "certificate": leaf.pem})
    assert response.status_code == 302
    cert.refresh_from_db()
    assert (cert.name, cert.private_key.splitlines()[1]) == ("renamed", key_line)


@pytest.mark.django_db
def test_the_list_shows_days_left_soonest_first(admin_client):
    for name, days in (("later", 90), ("soon", 20)):
        leaf = CA.leaf(f"{name}.test", days=days)
        Certificate.objects.create(
            name=name, certificate=leaf.pem, private_key=leaf.key_pem()
        )

    page = admin_client.get("/admin/site_management/certificate/").content.decode()

    assert "days left" in page.lower()
    assert page.index("soon.test") < page.index("later.test")
