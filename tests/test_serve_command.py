"""`manage.py serve`, the one process `scripts/run.sh` starts: Caddy from the
database, the admin with its static files, the reconcile, and a clean stop."""

import signal

import httpx
import pytest

from tests.harness import free_port
from tests.support import create_site, eventually, start_manage

pytestmark = [pytest.mark.caddy]


@pytest.fixture
def serve(caddy, tmp_path):
    """A `serve` child with a Caddy of its own, on ports apart from the suite's."""
    ports = {"admin": free_port(), "http": free_port(), "web": free_port()}
    child = start_manage(
        caddy,
        "serve",
        f"127.0.0.1:{ports['web']}",
        CADDY_API_URL=f"http://127.0.0.1:{ports['admin']}",
        CADDY_HTTP_PORT=str(ports["http"]),
        CADDY_HTTPS_PORT=str(free_port()),
        CADDY_BASE_PATH=str(tmp_path / "caddy"),
        CADDY_LOG_DIR=str(tmp_path / "logs"),
        CADDY_RECONCILE_SECONDS="1",
    )
    yield child, ports
    if child.poll() is None:
        child.kill()
        child.wait(10)


def answers(url):
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_serve_runs_caddy_the_admin_and_the_reconcile_and_stops_on_sigterm(
    serve, upstreams
):
    app = upstreams("app")
    create_site("served-at-start.test", app.address)
    child, ports = serve
    site_url = f"http://127.0.0.1:{ports['http']}/"
    web = f"http://127.0.0.1:{ports['web']}"

    def site_served():
        try:
            response = httpx.get(site_url, headers={"Host": "served-at-start.test"})
        except httpx.HTTPError:
            return False
        return response.text == "upstream app"

    eventually(site_served, timeout=60)
    # Caddy serves the sites before the admin's server starts listening.
    login = eventually(lambda: answers(f"{web}/admin/login/"), timeout=60)
    assert login.status_code == 200
    assert answers(f"{web}/static/admin/css/base.css").status_code == 200

    create_site("added-later.test", app.address)  # reaches it by reconcile
    eventually(
        lambda: (
            httpx.get(site_url, headers={"Host": "added-later.test"}).text
            == "upstream app"
        ),
        timeout=60,
    )

    child.send_signal(signal.SIGTERM)
    child.wait(30)
    assert answers(f"http://127.0.0.1:{ports['admin']}/config/") is None
    assert answers(site_url) is None


def test_caddy_stops_when_serve_is_killed_outright(serve):
    child, ports = serve
    admin = f"http://127.0.0.1:{ports['admin']}/config/"
    eventually(lambda: answers(admin), timeout=60)

    child.kill()
    child.wait(10)

    eventually(lambda: answers(admin) is None, timeout=30)
