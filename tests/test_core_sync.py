"""The core loop against a real Caddy: rows saved in Django are served."""

import pytest

from site_management.models import Addresses, Site
from tests.conftest import wait_for_sync

pytestmark = [pytest.mark.caddy]


def test_the_users_snippet_makes_caddy_serve_the_site(caddy, upstreams):
    app = upstreams("app")

    site = Site.objects.create(
        host="myapp.test", protocol="http", auto_ssl=True, status="active"
    )
    Addresses.objects.create(site=site, ip_address=app.address)
    wait_for_sync()

    response = caddy.get("myapp.test")
    assert response.status_code == 200
    assert response.text == "upstream app"
    site.refresh_from_db()
    assert site.sync_status == "live"
    assert site.last_synced_at is not None
