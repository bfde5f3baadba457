"""A loop of saves is coalesced: Caddy loads its config a few times, not once
per save, and ends up serving every site."""

import time

import httpx
import pytest

from site_management.models import Addresses, Site
from tests.conftest import wait_for_sync

pytestmark = [pytest.mark.caddy]
SITES = 1000


def test_a_thousand_saves_in_a_loop_make_few_config_loads(caddy, upstreams):
    app = upstreams("app")
    hosts = [f"site{number:04d}.burst.test" for number in range(SITES)]
    loads_before = caddy.config_posts()
    started = time.monotonic()

    for host in hosts:
        site = Site.objects.create(host=host, protocol="http", status="active")
        Addresses.objects.create(site=site, ip_address=app.address)
    wait_for_sync()

    loads = caddy.config_posts() - loads_before
    elapsed = time.monotonic() - started
    print(f"\n{SITES} sites, {2 * SITES} saves, {loads} loads, {elapsed:.1f}s")
    assert 1 <= loads < 50
    assert set(Site.objects.values_list("sync_status", flat=True)) == {"live"}

    with httpx.Client(
        base_url=f"http://127.0.0.1:{caddy.http_port}", timeout=10
    ) as http:
        answers = {host: http.get("/", headers={"Host": host}) for host in hosts}
    failed = {
        host: response.status_code
        for host, response in answers.items()
        if (response.status_code, response.text) != (200, "upstream app")
    }
    assert failed == {}
    assert app.hits == SITES
