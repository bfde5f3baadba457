"""The audit trail: who changed which site, address or certificate, and how,
for changes made through the API and through the admin."""

import pytest
from django.contrib.auth.models import User

from site_management.models import Certificate, Site
from tests.api_support import forget_throttles, operator_user, staff_user, token_client
from tests.certs import authority

CA = authority("Audit")


@pytest.fixture(autouse=True)
def fresh_throttles():
    forget_throttles()


def test_a_change_through_the_api_is_recorded_with_its_user(db):
    client = token_client(staff_user("scripter"))
    site_id = client.post(
        "/api/sites/",
        {"host": "audit.test", "protocol": "http", "addresses": ["127.0.0.1:9000"]},
        format="json",
    ).json()["id"]
    client.patch(f"/api/sites/{site_id}/", {"status": "maintenance"}, format="json")

    reader = token_client(operator_user())
    history = reader.get(f"/api/sites/{site_id}/history/").json()["results"]

    assert [(h["action"], h["user"]) for h in history] == [
        ("changed", "scripter"),
        ("created", "scripter"),
    ]
    assert history[0]["changes"] == [
        {"field": "status", "old": "active", "new": "maintenance"}
    ]
    addresses = reader.get("/api/audit/addresses/?user=scripter").json()
    assert [a["object"] for a in addresses["results"]] == ["127.0.0.1:9000"]


def test_a_change_in_the_admin_is_recorded_with_its_user(db, client):
    editor = User.objects.create_superuser("editor", password="x-unused-x")
    client.force_login(editor)
    site = Site.objects.create(host="admin-audit.test", protocol="http")

    response = client.post(
        f"/admin/site_management/site/{site.pk}/change/",
        {
            "host": "admin-audit.test",
            "protocol": "http",
            "status": "inactive",
            "addresses-TOTAL_FORMS": "0",
            "addresses-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    latest = Site.history.filter(id=site.pk).first()
    assert (latest.history_type, latest.history_user, latest.status) == (
        "~",
        editor,
        "inactive",
    )
    listed = token_client(operator_user()).get(
        f"/api/audit/sites/?object_id={site.pk}&action=~"
    )
    assert [r["user"] for r in listed.json()["results"]] == ["editor"]


def test_deleted_sites_stay_in_the_audit_trail(db):
    client = token_client(staff_user("remover"))
    site = Site.objects.create(host="gone.test", protocol="http")
    client.delete(f"/api/sites/{site.pk}/")

    entries = token_client(operator_user()).get("/api/audit/sites/").json()["results"]

    assert [(e["object"], e["action"], e["user"]) for e in entries] == [
        ("gone.test", "deleted", "remover"),
        ("gone.test", "created", None),
    ]


def test_the_audit_trail_never_holds_a_private_key(db):
    leaf = CA.leaf("key.test")
    cert = Certificate.objects.create(
        name="k", certificate=leaf.pem, private_key=leaf.key_pem()
    )
    replacement = CA.leaf("key.test")
    token_client(staff_user()).patch(
        f"/api/certificates/{cert.pk}/",
        {"certificate": replacement.pem, "private_key": replacement.key_pem()},
        format="json",
    )

    history = Certificate.history.model
    assert "private_key" not in {f.name for f in history._meta.get_fields()}
    body = token_client(operator_user()).get("/api/audit/certificates/").content
    assert b"PRIVATE KEY" not in body
    assert history.objects.count() == 2
