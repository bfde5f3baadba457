"""The Caddy that `serve` and `runcaddy` own: started from the database,
started again when it dies, and never started twice on the same ports."""

import os
import signal

import httpx
import pytest
from django.db import connection

from site_management.caddy.owned import CaddyStartError, OwnedCaddy
from site_management.caddy.sync import sync_all
from site_management.models import Addresses
from tests.conftest import wait_for_sync
from tests.harness import free_port
from tests.support import create_site, eventually


@pytest.fixture
def own_ports(caddy, settings, tmp_path):
    """Settings for a Caddy of the product's own, beside the suite's one."""
    settings.CADDY_API_URL = f"http://127.0.0.1:{free_port()}"
    settings.CADDY_HTTP_PORT = free_port()
    settings.CADDY_HTTPS_PORT = free_port()
    settings.CADDY_BIND = "127.0.0.1"
    settings.CADDY_TLS_ISSUER = "internal"
    settings.CADDY_BASE_PATH = str(tmp_path / "caddy")
    settings.CADDY_LOG_DIR = str(tmp_path / "logs")
    yield settings
    wait_for_sync()


def get(settings, host):
    url = f"http://127.0.0.1:{settings.CADDY_HTTP_PORT}/"
    return httpx.get(url, headers={"Host": host}, timeout=5)


def new_process_answer(caddy, first_pid, settings, host):
    """What a Caddy other than `first_pid` answers for `host`; None while the
    old process runs or the new one is still starting."""
    if caddy.process.pid == first_pid:
        return None
    try:
        return get(settings, host).text
    except httpx.HTTPError:
        return None


def test_it_starts_serving_the_database_and_comes_back_after_being_killed(
    own_ports, upstreams
):
    app = upstreams("app")
    create_site("owned.test", app.address)
    wait_for_sync()  # Caddy is not running yet: this sync fails and waits

    caddy = OwnedCaddy.start()
    try:
        assert get(own_ports, "owned.test").text == "upstream app"
        first_pid = caddy.process.pid

        os.kill(first_pid, signal.SIGKILL)

        def served_by_a_new_process():
            answer = new_process_answer(caddy, first_pid, own_ports, "owned.test")
            return answer == "upstream app"

        eventually(served_by_a_new_process, timeout=30)
    finally:
        caddy.stop()

    assert caddy.process.poll() is not None


def test_a_refused_site_keeps_its_last_accepted_version_across_a_restart(
    own_ports, upstreams
):
    app = upstreams("app")
    caddy = OwnedCaddy.start()
    try:
        site = create_site("kept.owned.test", app.address)
        wait_for_sync()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Addresses._meta.db_table} SET ip_address = %s",
                ["127.0.0.1:{bad"],
            )
        sync_all("test")
        site.refresh_from_db()
        assert site.sync_status == "failed"
        first_pid = caddy.process.pid

        os.kill(first_pid, signal.SIGKILL)

        def answer_of_a_new_process():
            return new_process_answer(caddy, first_pid, own_ports, "kept.owned.test")

        assert eventually(answer_of_a_new_process, timeout=30) == "upstream app"
    finally:
        caddy.stop()


def test_it_refuses_to_start_where_a_caddy_already_answers(own_ports):
    caddy = OwnedCaddy.start()
    try:
        with pytest.raises(CaddyStartError, match="already answers"):
            OwnedCaddy.start()
    finally:
        caddy.stop()


def test_a_taken_port_is_reported_with_caddys_reason(own_ports):
    with socket_listening(own_ports.CADDY_HTTP_PORT):
        with pytest.raises(CaddyStartError, match="address already in use"):
            OwnedCaddy.start()


class socket_listening:
    def __init__(self, port):
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", port))
        self.socket.listen()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.close()


def test_a_caddy_whose_admin_api_was_moved_by_hand_is_restarted(own_ports, upstreams):
    app = upstreams("app")
    create_site("moved.test", app.address)
    caddy = OwnedCaddy.start()
    try:
        first_pid = caddy.process.pid
        elsewhere = {"admin": {"listen": f"127.0.0.1:{free_port()}"}}
        httpx.post(f"{own_ports.CADDY_API_URL}/load", json=elsewhere, timeout=5)

        def back_with_its_own_config():
            answer = new_process_answer(caddy, first_pid, own_ports, "moved.test")
            return answer == "upstream app"

        eventually(back_with_its_own_config, timeout=60)
    finally:
        caddy.stop()
