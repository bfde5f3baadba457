"""The snippet the first users ran in `manage.py shell`, in a real child
process: the site is live in Caddy when the shell exits, with no other call."""

import pytest

from site_management.models import Site
from tests.support import assert_serves, manage

pytestmark = [pytest.mark.caddy]

SNIPPET = """
from site_management.models import Site, Addresses
site = Site.objects.create(host="shell.test", protocol="http",
                           auto_ssl=True, status="active")
Addresses.objects.create(site=site, ip_address="{address}")
"""


def test_the_users_shell_snippet_is_live_when_the_shell_exits(caddy, upstreams):
    app = upstreams("app")

    # The longest debounce leaves the sync to the exit-time flush.
    run = manage(
        caddy,
        "shell",
        "-c",
        SNIPPET.format(address=app.address),
        CADDY_SYNC_DEBOUNCE_MS="10000",
    )

    assert run.returncode == 0, run.stderr
    assert_serves(caddy, "shell.test", app)
    site = Site.objects.get(host="shell.test")
    assert (site.sync_status, site.sync_error) == ("live", "")


def test_the_shell_snippet_while_caddy_is_down_exits_cleanly_and_stays_pending(
    caddy, upstreams
):
    app = upstreams("app")
    caddy.stop()

    run = manage(caddy, "shell", "-c", SNIPPET.format(address=app.address))

    assert run.returncode == 0, run.stderr
    site = Site.objects.get(host="shell.test")
    assert site.sync_status == "pending"
    assert "Connection refused" in site.sync_error
