"""`manage.py caddy_sync` and `caddy_status` as operators run them: real child
processes, judged by their exit status and what they print."""

import pytest
from django.db import connection

from site_management.models import Addresses, Site
from tests.conftest import wait_for_sync
from tests.support import (
    assert_serves,
    create_site,
    database_config,
    live_config,
    manage,
)

pytestmark = [pytest.mark.caddy]


@pytest.fixture
def served(caddy, upstreams):
    app = upstreams("app")
    create_site("status.test", app.address)
    wait_for_sync()
    return app


def test_caddy_status_exits_0_when_caddy_matches_the_database(caddy, served):
    run = manage(caddy, "caddy_status")

    assert run.returncode == 0, run.stderr
    assert "matches the database" in run.stdout
    assert "status.test" in run.stdout
    assert "caddy matches" in run.stdout


def test_caddy_status_exits_1_when_caddy_restarted_empty(caddy, served):
    caddy.stop()
    caddy.start()

    run = manage(caddy, "caddy_status")

    assert run.returncode == 1
    assert "DIFFERS from the database" in run.stdout
    assert "caddy missing" in run.stdout
    assert "run caddy_sync" in run.stderr


def test_caddy_status_exits_1_when_caddy_serves_a_site_the_database_lost(caddy, served):
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Addresses._meta.db_table}")
        cursor.execute(f"DELETE FROM {Site._meta.db_table}")

    run = manage(caddy, "caddy_status")

    assert run.returncode == 1
    assert "served by Caddy but not in the database" in run.stdout


def test_caddy_status_exits_1_when_caddy_is_down(caddy, served):
    caddy.stop()

    run = manage(caddy, "caddy_status")

    assert run.returncode == 1
    assert "cannot read Caddy's config" in run.stderr


def test_caddy_sync_exits_1_while_caddy_is_down(caddy, served):
    caddy.stop()

    run = manage(caddy, "caddy_sync")

    assert run.returncode == 1
    assert "unreachable" in run.stderr
    assert "Connection refused" in run.stderr


def test_caddy_sync_exits_0_and_puts_back_a_caddy_that_restarted_empty(caddy, served):
    caddy.stop()
    caddy.start()

    run = manage(caddy, "caddy_sync")

    assert run.returncode == 0, run.stderr
    assert "default: applied" in run.stdout
    assert live_config(caddy) == database_config()
    assert_serves(caddy, "status.test", served)


def test_caddy_sync_run_twice_changes_nothing_the_second_time(caddy, served):
    loads = caddy.config_posts()

    run = manage(caddy, "caddy_sync")

    assert run.returncode == 0, run.stderr
    assert "default: unchanged" in run.stdout
    assert caddy.config_posts() == loads
