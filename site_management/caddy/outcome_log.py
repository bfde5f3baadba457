"""Log a sync's outcome: one line for the node, banners for the sites."""

import logging

from site_management import oplog
from site_management.models import SyncStatus

log = logging.getLogger("site_management.caddy.sync")


def log_outcome(outcome, hosts, duration_ms):
    level = logging.INFO if outcome.ok else logging.WARNING
    log.log(
        level,
        "sync node=%s result=%s hash=%s drift=%s duration_ms=%s problem=%s",
        outcome.node,
        outcome.result,
        outcome.config_hash[:12],
        outcome.drift,
        duration_ms,
        outcome.problem or "-",
    )
    if outcome.drift:
        oplog.step(
            f"node {outcome.node}",
            "DRIFT",
            "Caddy ran a config this project had not applied; put back"
            if outcome.ok
            else "Caddy runs a config this project had not applied",
            level=logging.WARNING,
        )
    reported = set()
    for host, status, error in outcome.changed_hosts:
        reported.add(host)
        live = status == SyncStatus.LIVE
        oplog.step(host, "APPLY TO CADDY", "OK" if live else status.upper())
        if live:
            oplog.sync_succeeded(host)
        else:
            oplog.sync_failed(host, error)

    # Hosts named by the requests but absent from the rows: deleted sites.
    for host in sorted(set(hosts) - reported):
        if outcome.error:
            oplog.sync_failed(host, outcome.error)
        else:
            oplog.sync_succeeded(host)
