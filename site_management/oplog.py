"""The operations log: `<CADDY_LOG_DIR>/operations/caddy_operations.log`.

Outcomes stand out as banners that operators grep for; routine steps are one
line each, `[host] STEP - STATUS`. The file rotates so it never fills a disk.
"""

import logging
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

from django.conf import settings

log = logging.getLogger("site_management.caddy.operations")
_lock = threading.Lock()
_handler_path = None
RULE = "#" * 30


def _ensure_handler():
    global _handler_path
    path = Path(settings.CADDY_LOG_DIR) / "operations" / "caddy_operations.log"
    if _handler_path == path:
        return
    with _lock:
        if _handler_path == path:
            return
        for old in [h for h in log.handlers if getattr(h, "_operations", False)]:
            log.removeHandler(old)
            old.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        handler._operations = True
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        # Banners belong in this file; the console gets the sync's own lines.
        log.propagate = False
        _handler_path = path


def banner(title, host, *details, level=logging.INFO):
    _ensure_handler()
    lines = [RULE, f"# {title}: {host}"]
    lines += [f"# {detail}" for detail in details]
    lines.append(RULE)
    log.log(level, "\n%s", "\n".join(lines))


def step(host, name, status, level=logging.INFO):
    _ensure_handler()
    log.log(level, "[%s] %s - %s", host, name, status)


def site_created(host):
    banner("SITE CREATED", host)


def sync_required(host, action):
    banner("CADDY SYNC REQUIRED", host, f"ACTION: {action}")


def add_site_complete(host):
    banner("ADD SITE COMPLETE", host)


def sync_succeeded(host):
    banner("CADDY AUTO-SYNC SUCCESS", host)


def sync_failed(host, error):
    one_line = " ".join(str(error).split())
    banner("CADDY AUTO-SYNC FAILED", host, f"ERROR: {one_line}", level=logging.ERROR)
