"""Helpers the real-Caddy tests share: making sites, reading what came out."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from site_management.caddy.background import syncer
from site_management.caddy.client import CaddyClient
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options
from site_management.models import Addresses, Site


def eventually(check, timeout=30, what=None):
    """Poll `check` every 0.1 s until it returns a true value, and return that.

    `check` may also raise AssertionError while it is not there yet. Fails
    with `what` (or the check's name) and the last answer after `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result, last = check(), None
        except AssertionError as error:
            result, last = None, error
        if result:
            return result
        if time.monotonic() >= deadline:
            name = what or getattr(check, "__name__", repr(check))
            detail = last if last is not None else repr(result)
            raise AssertionError(f"not true after {timeout}s: {name} (last: {detail})")
        time.sleep(0.1)


@contextmanager
def reconciling(seconds):
    """Let the process-wide background syncer reconcile every `seconds`, and
    switch that off again (and wait for the sync in flight) afterwards."""
    syncer.reconcile_every(seconds)
    try:
        yield syncer
    finally:
        syncer.reconcile_every(None)
        syncer.flush()


def create_site(host, *addresses, **fields):
    """A site saved through the ORM the way users do it, one row at a time."""
    site = Site.objects.create(host=host, **fields)
    for address in addresses:
        Addresses.objects.create(site=site, ip_address=address)
    return site


def assert_serves(caddy, host, upstream):
    response = caddy.get(host)
    assert (response.status_code, response.text) == (200, f"upstream {upstream.name}")


def live_config(caddy):
    return CaddyClient(caddy.api_url, timeout=5).get_config()[0]


def database_config():
    specs, _ = load_site_specs()
    return render(specs, render_options()).config


class OperationsLog:
    """The operations log, read from the point where a test started looking."""

    def __init__(self):
        self.path = Path(settings.CADDY_LOG_DIR) / "operations" / "caddy_operations.log"
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def new_text(self):
        with open(self.path, encoding="utf-8") as log:
            log.seek(self.start)
            return log.read()

    def banner(self, title, host):
        """The `# ...` lines of the first new banner `# title: host`."""
        lines = self.new_text().splitlines()
        heading = f"# {title}: {host}"
        if heading not in lines:
            return None
        found = []
        for line in lines[lines.index(heading) :]:
            if not line.startswith("# "):
                break
            found.append(line)
        return found


def database_url():
    """A DATABASE_URL naming the database this test run uses, so a child
    process reads and writes the same rows.

    pytest-django renames the database before the first test (SQLite: the
    TEST NAME from the settings, state/test-db.sqlite3; PostgreSQL: test_ and
    the configured name), and the connection's settings carry the new name.
    """
    db = connection.settings_dict
    name = db["NAME"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(name).resolve()}"
    if not db["ENGINE"].endswith("postgresql"):
        raise NotImplementedError(f"no URL form for {db['ENGINE']}")
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}{host}{port}/{quote(name, safe='')}"


def child_environment(caddy, **extra):
    """The environment for a `manage.py` child that uses this test's database
    and Caddy, and writes the same operations log."""
    environment = dict(os.environ)
    environment.update(
        DATABASE_URL=database_url(),
        CADDY_API_URL=caddy.api_url,
        CADDY_HTTP_PORT=str(caddy.http_port),
        CADDY_HTTPS_PORT=str(caddy.https_port),
        CADDY_BIND="127.0.0.1",
        CADDY_TLS_ISSUER="internal",
        CADDY_LOG_DIR=str(settings.CADDY_LOG_DIR),
    )
    environment.update(extra)
    return environment


def start_manage(caddy, *arguments, **extra_environment):
    """Start `python manage.py ...` in a child process and return the Popen."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=child_environment(caddy, **extra_environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def manage(caddy, *arguments, **extra_environment):
    """Run `python manage.py ...` in a child process; return the finished run."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=child_environment(caddy, **extra_environment),
        capture_output=True,
        text=True,
        timeout=120,
    )
