"""A long stream of creates, edits and deletes while Caddy crashes twice ends,
with no manual step, with Caddy serving exactly what the database says."""

import random
from collections import Counter

import pytest
from django.utils import timezone

from site_management.caddy.render import MAINTENANCE_BODY, NOT_FOUND_BODY
from site_management.models import Addresses, CaddyNode, Site, SyncAttempt
from tests.support import (
    create_site,
    database_config,
    eventually,
    live_config,
    reconciling,
)

pytestmark = [pytest.mark.caddy]
STEPS = 200
STATUSES = ["active", "maintenance", "inactive"]


class ChangeStream:
    """Seeded random changes made through the ORM, one per step."""

    def __init__(self, rng, backends):
        self.rng = rng
        self.addresses = [backend.address for backend in backends]
        self.created = 0
        self.deleted_hosts = set()
        self.done = Counter()

    def step(self):
        sites = list(Site.objects.order_by("pk"))
        roll = self.rng.random()
        if not sites or roll < 0.3:
            self._create()
        elif roll < 0.85:
            self._edit(self.rng.choice(sites))
        else:
            self._delete(self.rng.choice(sites))

    def _create(self):
        self.created += 1
        count = self.rng.choice([1, 2])
        chosen = self.rng.sample(self.addresses, count)
        create_site(f"chaos-{self.created}.test", *chosen)
        self.done["create"] += 1

    def _edit(self, site):
        kind = self.rng.choice(["status", "address", "protocol"])
        if kind == "status":
            site.status = self.rng.choice([s for s in STATUSES if s != site.status])
            site.save()
        elif kind == "address":
            self._move_or_resize(site)
        else:
            site.protocol = "http"  # the only protocol these tests can serve
            site.save()
        self.done[f"edit {kind}"] += 1

    def _move_or_resize(self, site):
        current = list(site.addresses.all())
        unused = [a for a in self.addresses if a not in {c.ip_address for c in current}]
        if len(current) == 2 and self.rng.random() < 0.5:
            self.rng.choice(current).delete()
        elif len(current) == 1 and self.rng.random() < 0.5:
            Addresses.objects.create(site=site, ip_address=self.rng.choice(unused))
        else:
            address = self.rng.choice(current)
            address.ip_address = self.rng.choice(unused)
            address.save()

    def _delete(self, site):
        self.deleted_hosts.add(site.host)
        site.delete()
        self.done["delete"] += 1


def wait_for_a_sync_since(since):
    eventually(
        lambda: SyncAttempt.objects.filter(started_at__gte=since).exists(),
        what="a sync ran during the stream",
    )


def wait_until_caddy_is_found_down(since):
    eventually(
        lambda: SyncAttempt.objects.filter(
            result="unreachable", started_at__gte=since
        ).exists(),
        what="a sync noticed that Caddy is down",
    )


def wait_until_a_sync_reached_caddy(since):
    eventually(
        lambda: SyncAttempt.objects.filter(
            result__in=["applied", "unchanged"], started_at__gte=since
        ).exists(),
        what="a sync reached the restarted Caddy",
    )


def converged():
    node = CaddyNode.objects.filter(name="default").first()
    statuses = set(Site.objects.values_list("sync_status", flat=True))
    return (
        node and node.last_result in ("applied", "unchanged") and statuses == {"live"}
    )


def assert_served_as_the_database_says(caddy, by_address):
    for site in Site.objects.prefetch_related("addresses"):
        if site.status == "active":
            names = {by_address[a.ip_address].name for a in site.addresses.all()}
            answers = [caddy.get(site.host) for _ in range(2 * len(names))]
            assert {r.status_code for r in answers} == {200}, site.host
            assert {r.text for r in answers} == {f"upstream {n}" for n in names}
        elif site.status == "maintenance":
            response = caddy.get(site.host)
            assert (response.status_code, response.text) == (503, MAINTENANCE_BODY)
        else:
            response = caddy.get(site.host)
            assert (response.status_code, response.text) == (404, NOT_FOUND_BODY)


def recoveries(history):
    """How many times an applied sync followed a run of unreachable ones."""
    count, down = 0, False
    for result in history:
        if result == "unreachable":
            down = True
        elif result == "applied" and down:
            count, down = count + 1, False
    return count


def test_changes_made_through_two_caddy_crashes_end_served_as_the_database_says(
    caddy, upstreams, settings
):
    settings.CADDY_RETRY_MAX_SECONDS = 1
    backends = [upstreams(f"u{n}") for n in range(3)]
    stream = ChangeStream(random.Random(7), backends)

    with reconciling(1):
        paced_at = timezone.now()
        for step in range(STEPS):
            if step % 10 == 9:
                # Keep the syncs in the middle of the stream rather than
                # coalesced behind it; changes go on while each one runs.
                wait_for_a_sync_since(paced_at)
                paced_at = timezone.now()
            if step == 60:
                killed_at = timezone.now()
                caddy.kill()
            if step == 90:
                wait_until_caddy_is_found_down(killed_at)
                restarted_at = timezone.now()
                caddy.start()  # empty, like a fresh install
            if step == 100:
                wait_until_a_sync_reached_caddy(restarted_at)
            if step == 130:
                before = live_config(caddy)
                killed_at = timezone.now()
                caddy.kill()
            if step == 160:
                wait_until_caddy_is_found_down(killed_at)
                caddy.start(config=before)  # what it ran before the crash
            stream.step()

        # No caddy_sync and no sync_all from here: the loop alone converges.
        eventually(converged, timeout=60, what="every site live, node applied")

        assert live_config(caddy) == database_config()
        assert_served_as_the_database_says(
            caddy, {backend.address: backend for backend in backends}
        )
        for host in stream.deleted_hosts:
            response = caddy.get(host)
            assert (response.status_code, response.text) == (404, NOT_FOUND_BODY)

    assert stream.done["create"] >= 40 and stream.done["delete"] >= 10, stream.done
    assert {"edit status", "edit address", "edit protocol"} <= set(stream.done)
    history = SyncAttempt.objects.order_by("started_at", "id")
    assert recoveries(history.values_list("result", flat=True)) >= 2
    assert history.filter(drift=True, result="applied").exists()
