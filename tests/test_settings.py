"""Settings from the environment: bad values stop the start, naming the
variable; the local settings file that run.sh writes is read by every
command of the checkout, and the environment still wins over it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env=None, state_dir):
    environment = {
        **os.environ,
        "WAF_STATE_DIR": str(state_dir),
        "WAF_ENV_FILE": "",
        **(env or {}),
    }
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_line(result):
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("CADDY_HTTP_PORT", "abc", "not a whole number"),
        ("CADDY_HTTPS_PORT", "70000", "out of range"),
        ("CADDY_API_URL", "ftp://x", "must look like"),
        ("CADDY_API_URL", "http://127.0.0.1", "must be http://host:port"),
        ("CADDY_API_URL", "http://0.0.0.0:2019", "must be on loopback"),
        ("CADDY_API_URL", "http://caddy.example:2019", "must be on loopback"),
        ("CADDY_TLS_ISSUER", "zerossl", "not one of"),
        ("CADDY_BIND", "not_an_ip", "not an IP address"),
        ("CADDY_RECONCILE_SECONDS", "0", "out of range"),
        ("CADDY_CERT_WARN_DAYS", "two weeks", "not a whole number"),
        ("CADDY_CERT_WARN_DAYS", "-1", "out of range"),
        ("DEBUG", "maybe", "not a boolean"),
        ("CELERY_BROKER_URL", "amqp://x", "must be a redis:// URL"),
        ("CADDY_NOTIFY_WEBHOOK_URL", "hooks.example", "must be an http(s) URL"),
        ("CADDY_NOTIFY_EMAILS", "ops at example", "not an email address"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_the_variable(
    tmp_path, name, value, reason
):
    result = manage("check", env={name: value}, state_dir=tmp_path)

    assert result.returncode != 0
    assert f"configuration error: {name}" in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_equal_http_and_https_ports_are_refused(tmp_path):
    ports = {"CADDY_HTTP_PORT": "8080", "CADDY_HTTPS_PORT": "8080"}

    result = manage("check", env=ports, state_dir=tmp_path)

    assert result.returncode != 0
    assert "CADDY_HTTP_PORT and CADDY_HTTPS_PORT must differ" in result.stderr


def test_the_local_settings_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("# local\nCADDY_HTTP_PORT=8181\nCADDY_HTTPS_PORT = 8443\n")
    show = (
        "from django.conf import settings as s; "
        "print(s.CADDY_HTTP_PORT, s.CADDY_HTTPS_PORT)"
    )

    from_file = manage(
        "shell", "-c", show, env={"WAF_ENV_FILE": str(env_file)}, state_dir=tmp_path
    )
    overridden = manage(
        "shell",
        "-c",
        show,
        env={"WAF_ENV_FILE": str(env_file), "CADDY_HTTP_PORT": "9191"},
        state_dir=tmp_path,
    )

    assert last_line(from_file) == "8181 8443", from_file.stderr
    assert last_line(overridden) == "9191 8443", overridden.stderr


def test_a_malformed_settings_file_names_the_file_and_line(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("CADDY_HTTP_PORT=8181\nthis is not a setting\n")

    result = manage("check", env={"WAF_ENV_FILE": str(env_file)}, state_dir=tmp_path)

    assert result.returncode != 0
    assert f"{env_file}, line 2: expected NAME=value" in result.stderr
