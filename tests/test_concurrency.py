"""Several appliers at once (threads, the background syncer, other processes)
never interleave two applies: whatever order they run in, Caddy ends up
running exactly what the database says. A node held by another process is
waited for, and a lease left behind by a crashed process is taken over."""

import random
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from site_management.caddy.background import syncer
from site_management.caddy.sync import LeaseBusy, default_node, sync_all
from site_management.models import CaddyNode, Site, SyncAttempt
from tests.conftest import wait_for_sync
from tests.support import (
    assert_serves,
    create_site,
    database_config,
    eventually,
    live_config,
    manage,
    reconciling,
    start_manage,
)

pytestmark = [pytest.mark.caddy]
STATUSES = ["active", "maintenance", "inactive"]


def churn(name, addresses, seed):
    """Create, edit and delete sites, syncing after each step like a second
    control-plane thread would; return the outcomes of its own syncs and
    when it ran."""
    rng, mine, outcomes = random.Random(seed), [], []
    started = time.monotonic()
    try:
        for step in range(15):
            mine.append(create_site(f"{name}-{step}.test", rng.choice(addresses)))
            if step % 2:
                edited = rng.choice(mine)
                edited.status = rng.choice(STATUSES)
                edited.save()
                address = edited.addresses.get()
                address.ip_address = rng.choice(addresses)
                address.save()
            if step % 3 == 2:
                mine.pop(rng.randrange(len(mine))).delete()
            outcomes += sync_all(f"thread {name}", wait_seconds=60)
    finally:
        connection.close()
    return outcomes, (started, time.monotonic())


def assert_caddy_runs_the_database(caddy, by_address):
    assert live_config(caddy) == database_config()
    assert set(Site.objects.values_list("sync_status", flat=True)) == {"live"}
    for site in Site.objects.filter(status="active"):
        assert_serves(caddy, site.host, by_address[site.addresses.get().ip_address])
    results = set(SyncAttempt.objects.values_list("result", flat=True))
    assert results <= {"applied", "unchanged"}


def test_two_threads_and_the_background_syncer_leave_caddy_running_the_database(
    caddy, upstreams
):
    backends = [upstreams("one"), upstreams("two")]
    addresses = [backend.address for backend in backends]

    with reconciling(1), ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(churn, name, addresses, seed)
            for name, seed in (("a", 1), ("b", 2))
        ]
        (a_outcomes, a_ran), (b_outcomes, b_ran) = [run.result() for run in runs]
    outcomes = a_outcomes + b_outcomes
    assert syncer.flush()

    assert len(outcomes) == 30
    assert all(outcome.ok for outcome in outcomes), outcomes
    assert Site.objects.count() == 20
    by_address = {backend.address: backend for backend in backends}
    assert_caddy_runs_the_database(caddy, by_address)
    background = SyncAttempt.objects.exclude(trigger__startswith="thread ")
    assert background.exists(), "the background syncer never ran beside them"
    assert_ran_at_the_same_time(a_ran, b_ran)


CHILD = """
import random
import time
from pathlib import Path

from site_management.caddy.sync import sync_all
from site_management.models import Addresses, Site

Path("{gate}.{name}").touch()
deadline = time.monotonic() + 60
while not Path("{gate}").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
started = time.time()

rng, mine = random.Random({seed}), []
for step in range(10):
    site = Site.objects.create(host=f"{name}-{{step}}.test")
    Addresses.objects.create(site=site, ip_address=rng.choice({addresses!r}))
    mine.append(site)
    if step % 2:
        edited = rng.choice(mine)
        edited.status = rng.choice({statuses!r})
        edited.save()
    if step % 3 == 2:
        mine.pop(rng.randrange(len(mine))).delete()
    for outcome in sync_all("process {name}", wait_seconds=60):
        assert outcome.ok, outcome
print("ran", started, time.time())
"""


def test_two_processes_syncing_at_once_leave_caddy_running_the_database(
    caddy, upstreams, tmp_path
):
    backends = [upstreams("one"), upstreams("two")]
    addresses = [backend.address for backend in backends]
    gate = tmp_path / "go"
    children = [
        start_manage(
            caddy,
            "shell",
            "-c",
            textwrap.dedent(
                CHILD.format(
                    gate=gate,
                    name=name,
                    seed=seed,
                    addresses=addresses,
                    statuses=STATUSES,
                )
            ),
        )
        for name, seed in (("p", 1), ("q", 2))
    ]

    # Both children are up before either starts, so their syncs overlap.
    eventually(lambda: all((tmp_path / f"go.{name}").exists() for name in "pq"))
    gate.touch()
    runs = [child.communicate(timeout=120) for child in children]

    for child, (_, stderr) in zip(children, runs, strict=True):
        assert child.returncode == 0, stderr
    assert_ran_at_the_same_time(*[ran_between(stdout) for stdout, _ in runs])
    assert Site.objects.count() == 14
    by_address = {backend.address: backend for backend in backends}
    assert_caddy_runs_the_database(caddy, by_address)


def ran_between(stdout):
    _, started, ended = stdout.split()[-3:]
    return float(started), float(ended)


def assert_ran_at_the_same_time(first, second):
    """Each applier started before the other one had finished. (Which of them
    gets the node when is up to the lease, so no finer order is asserted.)"""
    assert first[0] < second[1] and second[0] < first[1], (first, second)


@pytest.fixture
def served(caddy, upstreams):
    app = upstreams("app")
    create_site("lease.test", app.address)
    wait_for_sync()
    return app


def hold_lease(until):
    CaddyNode.objects.filter(pk=default_node().pk).update(
        lease_owner="another process", lease_until=until
    )


@pytest.fixture
def lease_held_elsewhere(served):
    hold_lease(timezone.now() + timedelta(minutes=5))
    yield
    hold_lease(None)  # so the end-of-test flush can sync


def test_a_node_held_by_another_process_makes_sync_all_give_up_after_waiting(
    caddy, lease_held_elsewhere
):
    attempts = SyncAttempt.objects.count()

    with pytest.raises(LeaseBusy, match="default"):
        sync_all("test", wait_seconds=0)

    assert SyncAttempt.objects.count() == attempts
    node = CaddyNode.objects.get(name="default")
    assert node.lease_owner == "another process"


def test_caddy_sync_fails_while_another_process_holds_the_node(
    caddy, lease_held_elsewhere
):
    with pytest.raises(CommandError, match="another process"):
        call_command("caddy_sync", wait=0, stdout=StringIO())


def test_an_expired_lease_of_a_crashed_process_is_taken_over(caddy, served):
    caddy.stop()
    caddy.start()  # empty: the sync has something to put back
    hold_lease(timezone.now() - timedelta(seconds=1))

    (outcome,) = sync_all("test", wait_seconds=0)

    assert outcome.result == "applied"
    assert_serves(caddy, "lease.test", served)
    node = CaddyNode.objects.get(name="default")
    assert (node.lease_owner, node.lease_until) == ("", None)


def test_an_exiting_shell_waits_for_a_busy_lease_instead_of_giving_up(caddy, upstreams):
    app = upstreams("app")
    CaddyNode.objects.update_or_create(
        name="default",
        defaults={
            "admin_url": caddy.api_url,
            "lease_owner": "another process",
            "lease_until": timezone.now() + timedelta(minutes=5),
        },
    )

    def free_the_lease():
        CaddyNode.objects.update(lease_owner="", lease_until=None)
        connection.close()

    release = threading.Timer(2.0, free_the_lease)
    release.start()
    snippet = (
        "from site_management.models import Site, Addresses; "
        "s = Site.objects.create(host='waited.test'); "
        f"Addresses.objects.create(site=s, ip_address='{app.address}')"
    )

    try:
        result = manage(caddy, "shell", "-c", snippet)
    finally:
        release.join()

    assert result.returncode == 0, result.stderr
    assert_serves(caddy, "waited.test", app)
