"""Sites and certificates written through the API are served by a real
Caddy; refused input names the field and writes nothing."""

import pytest
from django.db import connection

from site_management.models import Addresses, Certificate, Site
from tests.api_support import forget_throttles, staff_user, token_client
from tests.certs import authority
from tests.conftest import wait_for_sync
from tests.support import assert_serves

CA = authority("Api")


@pytest.fixture(autouse=True)
def fresh_throttles():
    forget_throttles()


@pytest.fixture
def staff(db):
    return token_client(staff_user())


@pytest.mark.caddy
def test_a_site_created_through_the_api_is_served(caddy, upstreams):
    one, two = upstreams("one"), upstreams("two")
    client = token_client(staff_user())

    response = client.post(
        "/api/sites/",
        {"host": "API.Test", "protocol": "http", "addresses": [one.address]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["host"], body["addresses"]) == ("api.test", [one.address])
    wait_for_sync()
    assert_serves(caddy, "api.test", one)

    moved = client.patch(
        f"/api/sites/{body['id']}/", {"addresses": [two.address]}, format="json"
    )
    assert moved.json()["addresses"] == [two.address]
    wait_for_sync()
    assert_serves(caddy, "api.test", two)
    state = client.get(f"/api/sites/{body['id']}/").json()
    assert (state["sync_status"], state["sync_error"]) == ("live", "")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"host": "bad host.test"}, "host"),
        ({"host": "a/b.test"}, "host"),
        ({"host": "x.test:8080"}, "host"),
        ({"host": ""}, "host"),
        ({"host": "x" * 300}, "host"),
        ({"host": "ok.test", "protocol": "gopher"}, "protocol"),
        ({"host": "ok.test", "status": "up"}, "status"),
        ({"host": "ok.test", "protocol": "https"}, "auto_ssl"),
        ({"host": "ok.test", "addresses": ["127.0.0.1:99999"]}, "addresses"),
        ({"host": "ok.test", "addresses": ["no port"]}, "addresses"),
        ({"host": "ok.test", "addresses": ["a:1", "a:1"]}, "addresses"),
        ({"host": "ok.test", "addresses": "127.0.0.1:80"}, "addresses"),
        ({"host": "ok.test", "addresses": ["127.0.0.1:2019"]}, "addresses"),
        ({"host": "ok.test", "certificate": 999}, "certificate"),
        ({"host": "EXISTING.test"}, "host"),
    ],
)
def test_refused_site_input_names_the_field_and_writes_nothing(staff, payload, field):
    Site.objects.create(host="existing.test", protocol="http")

    response = staff.post("/api/sites/", payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert list(Site.objects.values_list("host", flat=True)) == ["existing.test"]
    assert not Addresses.objects.exists()


def test_every_reason_is_given_at_once(staff):
    response = staff.post(
        "/api/sites/",
        {"host": "two words", "addresses": ["127.0.0.1:1", "127.0.0.1:0"]},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"host", "addresses"}
    assert list(response.json()["addresses"]) == ["1"]
    assert not Site.objects.exists()


def test_a_refused_change_keeps_what_was_saved(staff):
    site = Site.objects.create(host="keep.test", protocol="http")
    Addresses.objects.create(site=site, ip_address="127.0.0.1:8080")

    response = staff.patch(
        f"/api/sites/{site.pk}/",
        {"status": "maintenance", "addresses": ["127.0.0.1:8081", "bad:0"]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "addresses": {"1": [response.json()["addresses"]["1"][0]]}
    }
    site.refresh_from_db()
    assert site.status == "active"
    assert list(site.addresses.values_list("ip_address", flat=True)) == [
        "127.0.0.1:8080"
    ]


def test_an_address_stored_around_validation_can_be_replaced_and_deleted(staff):
    site = Site.objects.create(host="raw.test", protocol="http")
    Addresses.objects.create(site=site, ip_address="127.0.0.1:8080")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Addresses._meta.db_table} SET ip_address = %s",
            ["127.0.0.1:{bad"],
        )

    response = staff.patch(
        f"/api/sites/{site.pk}/", {"addresses": ["127.0.0.1:9000"]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["addresses"] == ["127.0.0.1:9000"]
    assert not Addresses.objects.filter(ip_address="127.0.0.1:{bad").exists()
    assert not Site.objects.filter(host="bad host").exists()
    site.delete()
    assert not Addresses.objects.exists()


def test_malformed_json_is_a_400(staff):
    response = staff.generic(
        "POST", "/api/sites/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_filters_search_and_pages(staff):
    for number in range(7):
        Site.objects.create(
            host=f"s{number}.test",
            protocol="http",
            status="maintenance" if number % 2 else "active",
        )

    page = staff.get("/api/sites/?status=maintenance&page_size=2").json()
    assert page["count"] == 3
    assert [site["host"] for site in page["results"]] == ["s1.test", "s3.test"]
    assert staff.get("/api/sites/?search=s6").json()["count"] == 1
    bad = staff.get("/api/sites/?status=sleeping")
    assert bad.status_code == 400 and "status" in bad.json()


@pytest.mark.caddy
def test_a_certificate_uploaded_through_the_api_is_served_and_its_key_hidden(
    caddy, upstreams
):
    from tests.test_certificate_serving import peer_certificate

    app = upstreams("app")
    leaf = CA.leaf("tls-api.test")
    client = token_client(staff_user())

    uploaded = client.post(
        "/api/certificates/",
        {
            "name": "tls-api",
            "certificate": leaf.pem,
            "chain": CA.root.pem + CA.intermediate.pem,
            "private_key": leaf.key_pem("traditional"),
        },
        format="json",
    )
    assert uploaded.status_code == 201, uploaded.content
    body = uploaded.json()
    assert "private_key" not in body and "passphrase" not in body
    assert body["names"] == ["tls-api.test"]
    assert body["fingerprint_sha256"] == leaf.fingerprint

    site = client.post(
        "/api/sites/",
        {
            "host": "tls-api.test",
            "protocol": "https",
            "certificate": body["id"],
            "addresses": [app.address],
        },
        format="json",
    )
    assert site.status_code == 201, site.content
    wait_for_sync()
    assert peer_certificate(caddy, "tls-api.test") == leaf.der
    key_text = Certificate.objects.get().private_key.split("\n")[1]
    for path in ("/api/certificates/", f"/api/certificates/{body['id']}/history/"):
        assert key_text not in client.get(path).content.decode()


def test_a_certificate_upload_refused_with_the_field_and_reason(staff):
    leaf, other = CA.leaf("a.test"), CA.leaf("b.test")
    encrypted = leaf.key_pem(passphrase="secret")

    mismatched = staff.post(
        "/api/certificates/",
        {"name": "m", "certificate": leaf.pem, "private_key": other.key_pem()},
        format="json",
    )
    locked = staff.post(
        "/api/certificates/",
        {"name": "e", "certificate": leaf.pem, "private_key": encrypted},
        format="json",
    )
    missing = staff.post("/api/certificates/", {"name": "n"}, format="json")
    unlocked = staff.post(
        "/api/certificates/",
        {
            "name": "u",
            "certificate": leaf.pem,
            "private_key": encrypted,
            "passphrase": "secret",
        },
        format="json",
    )

    assert mismatched.status_code == 400 and "private_key" in mismatched.json()
    assert locked.status_code == 400
    assert "encrypted key" in str(locked.json())
    assert missing.status_code == 400 and "certificate" in missing.json()
    assert unlocked.status_code == 201, unlocked.content
    assert list(Certificate.objects.values_list("name", flat=True)) == ["u"]


def test_a_der_file_is_accepted_through_multipart(staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    leaf = CA.leaf("der.test")

    response = staff.post(
        "/api/certificates/",
        {
            "name": "der",
            "certificate_file": SimpleUploadedFile("c.der", leaf.der),
            "private_key_file": SimpleUploadedFile("k.der", leaf.key_der()),
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    assert response.json()["fingerprint_sha256"] == leaf.fingerprint


def test_an_unreadable_certificate_file_is_refused_not_a_server_error(staff):
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile

    leaf = CA.leaf("junk.test")

    response = staff.post(
        "/api/certificates/",
        {
            "name": "junk",
            "certificate_file": SimpleUploadedFile("c.der", b"\x00junk bytes"),
            "private_key": leaf.key_pem(),
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert "not a certificate" in response.json()["certificate"][0]
    # The ORM, which the admin's file fields use, says the same.
    with pytest.raises(ValidationError) as refused:
        Certificate(name="j", certificate=b"junk", private_key=leaf.key_pem()).save()
    assert "certificate" in refused.value.message_dict
    assert not Certificate.objects.exists()


def test_odd_queries_and_addresses_get_json_errors(staff):
    nul = staff.get("/api/sites/?search=a%00b")
    nowhere = staff.get("/api/sites/1.5/")
    filtered = staff.get("/api/audit/sites/?user=a%00b")
    nul_id = staff.get("/api/sites/%00/")

    assert nul.status_code == 400
    assert nul.json() == {"detail": "Null characters are not allowed."}
    assert nowhere.status_code == 404
    assert filtered.status_code == 400 and "user" in filtered.json()
    assert nul_id.status_code == 404
    assert nowhere["Content-Type"] == "application/json"
    outside = staff.get("/no-such-page/")
    assert outside.status_code == 404
    assert outside["Content-Type"].startswith("text/html")
