"""The Caddy that `runcaddy` and `serve` start, watch and stop.

It starts from the config rendered from the database, refuses to start a
second Caddy where one already answers, and starts Caddy again if it dies,
so sites are not left down until someone notices.
"""

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import CommandError

from site_management import oplog
from site_management.caddy import certfiles, process
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options
from site_management.caddy.sync import make_plan

log = logging.getLogger("site_management.caddy.process")
RESTART_DELAYS = (1, 2, 5, 10, 30)
# A Caddy whose admin API stops answering (moved by hand, hung) cannot be
# synced; after this many checks in a row it is restarted.
HEALTH_CHECK_SECONDS = 5
UNANSWERED_CHECKS = 3


class CaddyStartError(RuntimeError):
    pass


class OwnedCaddy:
    def __init__(self):
        self.log_path = Path(settings.CADDY_LOG_DIR) / "caddy.log"
        self.process = None
        self._stopping = threading.Event()

    @classmethod
    def start(cls):
        caddy = cls()
        caddy._refuse_if_running()
        caddy._launch()
        threading.Thread(target=caddy._watch, name="caddy-watch", daemon=True).start()
        return caddy

    def stop(self):
        self._stopping.set()
        if self.process is not None:
            process.stop_caddy(self.process)

    def _refuse_if_running(self):
        if not self._admin_answers():
            return
        raise CaddyStartError(
            f"a Caddy already answers at {settings.CADDY_API_URL}; stop it first "
            "(two Caddy processes would share the ports and serve at random)"
        )

    def _launch(self):
        """Start Caddy already serving the database's sites.

        Starting from the rendered config rather than Caddy's autosave means
        a restart never brings back a config the database no longer holds.
        """
        specs, sites = load_site_specs()
        options = render_options()
        used = certfiles.write_for_specs(specs)  # Caddy loads them while it starts
        # What a sync would apply: a refused site keeps its last accepted
        # version across a restart too.
        plan = make_plan(specs, sites, render(specs, options), options, used)
        config = render(plan.desired(), options).config
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = process.start_caddy(
                config, settings.CADDY_BASE_PATH, log_file
            )
        try:
            process.wait_until_ready(settings.CADDY_API_URL, self.process)
        except RuntimeError as error:
            raise CaddyStartError(f"{error}: {self._last_error()}") from None
        log.info(
            "caddy started pid=%s admin=%s", self.process.pid, settings.CADDY_API_URL
        )

    def _last_error(self):
        """The last error Caddy logged, which says why it would not start."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        errors = [
            line
            for line in lines[-50:]
            if '"level":"error"' in line or "Error:" in line
        ]
        return errors[-1] if errors else f"see {self.log_path}"

    def _watch(self):
        failures = 0
        while not self._stopping.is_set():
            status = self._wait_while_healthy()
            if self._stopping.is_set():
                return
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.error("caddy exited status=%s; starting it again in %ss", status, delay)
            oplog.step("caddy", "PROCESS EXITED", f"status {status}, restarting")
            if self._stopping.wait(delay):
                return
            failures = self._restart(failures)

    def _wait_while_healthy(self):
        """Wait for Caddy to exit; stop it first if its admin API is gone."""
        unanswered = 0
        while True:
            try:
                return self.process.wait(timeout=HEALTH_CHECK_SECONDS)
            except subprocess.TimeoutExpired:
                unanswered = 0 if self._admin_answers() else unanswered + 1
            if unanswered >= UNANSWERED_CHECKS and not self._stopping.is_set():
                log.error(
                    "caddy's admin API at %s does not answer; restarting caddy",
                    settings.CADDY_API_URL,
                )
                process.stop_caddy(self.process)

    def _admin_answers(self):
        try:
            httpx.get(f"{settings.CADDY_API_URL}/config/", timeout=2)
        except httpx.HTTPError:
            return False
        return True

    def _restart(self, failures):
        try:
            self._launch()
        except (CaddyStartError, OSError) as error:
            log.error("caddy did not start again: %s", error)
            return failures + 1
        return 0


def start_for_command(stdout):
    """Start the owned Caddy for a management command, or fail the command.

    A plain `kill` of the command must stop Caddy too rather than leave it
    holding the ports, so SIGTERM becomes a normal exit.
    """
    try:
        caddy = OwnedCaddy.start()
    except CaddyStartError as error:
        raise CommandError(str(error)) from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stdout.write(
        f"caddy: admin {settings.CADDY_API_URL}, "
        f"sites on http :{settings.CADDY_HTTP_PORT} "
        f"and https :{settings.CADDY_HTTPS_PORT}; its log: {caddy.log_path}"
    )
    return caddy
