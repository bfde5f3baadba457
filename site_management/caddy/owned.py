"""The Caddy that `runcaddy` and `serve` start and stop with themselves."""

import logging
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from django.conf import settings

from site_management.caddy import process
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options

log = logging.getLogger("site_management.caddy.process")


@dataclass
class OwnedCaddy:
    process: Popen
    log_path: Path

    @classmethod
    def start(cls):
        """Start Caddy already serving the database's sites.

        Starting from the rendered config rather than Caddy's autosave means
        a restart never brings back a config the database no longer holds.
        """
        specs, _ = load_site_specs()
        config = render(specs, render_options()).config
        log_path = Path(settings.CADDY_LOG_DIR) / "caddy.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log_file:
            popen = process.start_caddy(config, settings.CADDY_BASE_PATH, log_file)
        process.wait_until_ready(settings.CADDY_API_URL, popen)
        log.info("caddy started pid=%s admin=%s", popen.pid, settings.CADDY_API_URL)
        return cls(popen, log_path)

    def stop(self):
        process.stop_caddy(self.process)
