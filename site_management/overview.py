"""What the admin dashboard and the API show at a glance, and the manual sync."""

import logging

from django.db.models import Count

from site_management.caddy.sync import LeaseBusy, sync_all
from site_management.models import CaddyNode, Site, SyncAttempt, SyncStatus

log = logging.getLogger("site_management.overview")

FAILED_RESULTS = [
    SyncAttempt.Result.PARTIAL,
    SyncAttempt.Result.UNREACHABLE,
    SyncAttempt.Result.REJECTED,
]
# A manual sync waits this long for one already running elsewhere.
MANUAL_SYNC_WAIT_SECONDS = 15


def state_counts():
    """Sites per sync state, every state present even when none is in it."""
    counts = dict.fromkeys(SyncStatus.values, 0)
    rows = Site.objects.values("sync_status").annotate(count=Count("pk"))
    for row in rows.order_by():
        counts[row["sync_status"]] = row["count"]
    return counts


def failed_sites(limit=20):
    return Site.objects.exclude(sync_status=SyncStatus.LIVE).exclude(sync_error="")[
        :limit
    ]


def recent_failures(limit=10):
    return SyncAttempt.objects.filter(result__in=FAILED_RESULTS).select_related("node")[
        :limit
    ]


def nodes():
    return CaddyNode.objects.all()


def sync_now(who):
    """Apply the database to every node now, on behalf of `who`.

    Returns the outcomes; raises LeaseBusy when another sync keeps the node
    longer than a person should wait for a page.
    """
    trigger = f"sync now by {who}"[:200]
    log.info("manual sync requested by %s", who)
    return sync_all(trigger=trigger, wait_seconds=MANUAL_SYNC_WAIT_SECONDS)


__all__ = [
    "LeaseBusy",
    "failed_sites",
    "nodes",
    "recent_failures",
    "state_counts",
    "sync_now",
]
