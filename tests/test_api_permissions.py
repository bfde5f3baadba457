"""Who may do what through the API: anonymous, a plain account, an operator
(read only) and staff, on every endpoint."""

import pytest
from django.contrib.auth.models import User

from site_management.models import CaddyNode, Site, SyncAttempt
from tests.api_support import (
    forget_throttles,
    operator_user,
    staff_user,
    token_client,
)
from tests.certs import issue

READ_ONLY = [
    "/api/nodes/",
    "/api/sync/",
    "/api/sync/history/",
    "/api/sync/config/",
    "/api/audit/sites/",
    "/api/audit/addresses/",
    "/api/audit/certificates/",
    "/api/schema/",
]
COLLECTIONS = ["/api/sites/", "/api/certificates/"]


@pytest.fixture(autouse=True)
def fresh_throttles():
    forget_throttles()


@pytest.fixture
def site(db):
    return Site.objects.create(host="perm.test", protocol="http")


@pytest.mark.parametrize("path", READ_ONLY + COLLECTIONS)
def test_anonymous_gets_401_with_json(db, path):
    response = token_client().get(path)

    assert response.status_code == 401
    assert "credentials" in response.data["detail"]
    if path != "/api/schema/":  # the schema view speaks OpenAPI's own type
        assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", READ_ONLY + COLLECTIONS)
def test_an_account_outside_the_operators_group_gets_403(db, path):
    plain = User.objects.create_user("plain", password="x-unused-x")

    response = token_client(plain).get(path)

    assert response.status_code == 403


@pytest.mark.parametrize("path", READ_ONLY + COLLECTIONS)
def test_operators_and_staff_read_everything(db, path):
    for user in (operator_user(), staff_user()):
        response = token_client(user).get(path)
        assert response.status_code == 200, (user, response.content[:300])


def test_operators_may_not_write(site):
    client = token_client(operator_user())
    cert = issue("perm.test", ["perm.test"])
    attempts = [
        client.post("/api/sites/", {"host": "new.test"}, format="json"),
        client.patch(f"/api/sites/{site.pk}/", {"status": "inactive"}, format="json"),
        client.delete(f"/api/sites/{site.pk}/"),
        client.post(
            "/api/certificates/",
            {"name": "c", "certificate": cert.pem, "private_key": cert.key_pem()},
            format="json",
        ),
        client.post("/api/sync/"),
    ]

    assert [response.status_code for response in attempts] == [403] * 5
    site.refresh_from_db()
    assert site.status == "active"
    assert list(Site.objects.values_list("host", flat=True)) == ["perm.test"]
    assert not SyncAttempt.objects.exists()


def test_staff_may_write(site):
    client = token_client(staff_user())

    created = client.post(
        "/api/sites/", {"host": "new.test", "protocol": "http"}, format="json"
    )
    changed = client.patch(
        f"/api/sites/{site.pk}/", {"status": "maintenance"}, format="json"
    )
    removed = client.delete(f"/api/sites/{created.json()['id']}/")

    assert (created.status_code, changed.status_code, removed.status_code) == (
        201,
        200,
        204,
    )
    assert list(Site.objects.values_list("host", "status")) == [
        ("perm.test", "maintenance")
    ]


def test_session_login_works_and_keeps_csrf(site):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user())

    assert client.get("/api/sites/").status_code == 200
    refused = client.post("/api/sites/", {"host": "x.test"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_a_token_from_drf_create_token_authenticates(db):
    from io import StringIO

    from django.core.management import call_command
    from rest_framework.test import APIClient

    staff_user("scripts")
    out = StringIO()
    call_command("drf_create_token", "scripts", stdout=out)
    key = out.getvalue().split()[2]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/sites/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/sites/").status_code == 401


def test_nodes_never_show_their_lease(db):
    CaddyNode.objects.create(name="default", admin_url="http://127.0.0.1:2019")

    body = token_client(operator_user()).get("/api/nodes/").json()

    assert body["count"] == 1
    assert "lease_owner" not in body["results"][0]
