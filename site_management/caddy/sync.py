"""Bring each Caddy node in line with the database.

One sync renders every site, compares the result with what the node runs,
and replaces the node's whole config in one request when they differ. The
outcome goes onto rows: the node, a SyncAttempt, and each site whose state
changed. Errors never propagate to whoever saved a site.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from site_management import oplog
from site_management.caddy.client import (
    CaddyClient,
    CaddyError,
    CaddyRejected,
    ConfigChanged,
)
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options
from site_management.models import CaddyNode, Site, SyncAttempt, SyncStatus

log = logging.getLogger("site_management.caddy.sync")

# Longer than the slowest sync can take (a few admin calls, each with a
# timeout), so a live holder never loses its lease to another process.
LEASE_SECONDS = 120
CONFLICT_ATTEMPTS = 3
Result = SyncAttempt.Result


class LeaseBusy(Exception):
    """Another process is applying to this node right now."""


@dataclass
class SyncOutcome:
    node: str
    result: str
    config_hash: str
    error: str = ""
    changed_hosts: list = field(default_factory=list)

    @property
    def ok(self):
        return self.result in (Result.APPLIED, Result.UNCHANGED)

    @property
    def retryable(self):
        return self.result == Result.UNREACHABLE


def default_node():
    """The node named by CADDY_API_URL; the setting wins over the row."""
    node, _ = CaddyNode.objects.get_or_create(
        name="default", defaults={"admin_url": settings.CADDY_API_URL}
    )
    if node.admin_url != settings.CADDY_API_URL:
        node.admin_url = settings.CADDY_API_URL
        node.save(update_fields=["admin_url"])
    return node


def sync_all(trigger, hosts=(), wait_seconds=0.0):
    """Sync every node; returns one SyncOutcome per node.

    Raises LeaseBusy when another process holds a node for longer than
    `wait_seconds`; the caller decides when to try again.
    """
    try:
        return [sync_node(default_node(), trigger, hosts, wait_seconds)]
    finally:
        close_old_connections()


def sync_node(node, trigger, hosts=(), wait_seconds=0.0):
    token = _acquire_lease(node, wait_seconds)
    try:
        return _sync_locked(node, trigger, hosts)
    finally:
        CaddyNode.objects.filter(pk=node.pk, lease_owner=token).update(
            lease_owner="", lease_until=None
        )


def _acquire_lease(node, wait_seconds):
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while True:
        now = timezone.now()
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        taken = CaddyNode.objects.filter(free, pk=node.pk).update(
            lease_owner=token, lease_until=now + timedelta(seconds=LEASE_SECONDS)
        )
        if taken:
            return token
        if time.monotonic() >= deadline:
            raise LeaseBusy(f"node {node.name} is being synced by another process")
        time.sleep(0.1)


def _sync_locked(node, trigger, hosts):
    started_at, clock = timezone.now(), time.monotonic()
    node.refresh_from_db()
    specs, sites = load_site_specs()
    rendered = render(specs, render_options())
    client = CaddyClient(node.admin_url, settings.CADDY_TIMEOUT_SECONDS)

    try:
        result, etag = _apply(client, rendered)
        error = ""
    except CaddyError as caught:
        result, etag = _failure_result(caught), ""
        error = str(caught)

    duration_ms = int((time.monotonic() - clock) * 1000)
    outcome = SyncOutcome(node.name, result, rendered.hash, error)
    _record_node(node, outcome, etag, started_at, duration_ms)
    SyncAttempt.objects.create(
        node=node,
        started_at=started_at,
        duration_ms=duration_ms,
        trigger=trigger[:200],
        result=result,
        config_hash=rendered.hash,
        site_count=len(rendered.site_hashes),
        error=error,
    )
    outcome.changed_hosts = _record_sites(sites, rendered, outcome)
    _log_outcome(outcome, hosts, duration_ms)
    return outcome


def _failure_result(error):
    return Result.REJECTED if isinstance(error, CaddyRejected) else Result.UNREACHABLE


def _apply(client, rendered):
    """Replace the node's config with `rendered` unless it already runs it.

    The write carries the ETag read just before it, so an edit made between
    the read and the write is noticed (412) and the read is done again.
    """
    for _ in range(CONFLICT_ATTEMPTS):
        live, etag = client.get_config()
        if live == rendered.config:
            return Result.UNCHANGED, etag
        try:
            client.replace_config(rendered.body, etag)
        except ConfigChanged:
            log.info("config changed under us, reading it again")
            continue
        return Result.APPLIED, client.get_config()[1]
    raise ConfigChanged("Caddy's config kept changing while it was being replaced")


def _record_node(node, outcome, etag, started_at, duration_ms):
    node.last_attempt_at = started_at
    node.last_duration_ms = duration_ms
    node.last_result = outcome.result
    node.last_error = outcome.error
    fields = ["last_attempt_at", "last_duration_ms", "last_result", "last_error"]
    if outcome.ok:
        node.applied_hash, node.applied_etag = outcome.config_hash, etag
        node.last_success_at = timezone.now()
        fields += ["applied_hash", "applied_etag", "last_success_at"]
    node.save(update_fields=fields)


def _site_update(site, rendered, outcome):
    """What to write on one site row after this sync, or None for nothing."""
    if site.pk in rendered.refused:
        return {
            "sync_status": SyncStatus.FAILED,
            "sync_error": rendered.refused[site.pk],
        }

    site_hash = rendered.site_hashes[site.pk]
    if outcome.ok:
        if site.sync_status == SyncStatus.LIVE and site.applied_hash == site_hash:
            return None
        return {
            "sync_status": SyncStatus.LIVE,
            "sync_error": "",
            "applied_hash": site_hash,
        }

    if site.sync_status == SyncStatus.LIVE and site.applied_hash == site_hash:
        return None  # this site's part is unchanged and still served
    status = (
        SyncStatus.FAILED if outcome.result == Result.REJECTED else SyncStatus.PENDING
    )
    return {"sync_status": status, "sync_error": outcome.error}


def _record_sites(sites, rendered, outcome):
    """Write each changed site's state; return the hosts whose state changed.

    The update is conditional on the revision the render read, so a site
    saved again meanwhile stays pending for the next sync.
    """
    now, changed = timezone.now(), []
    for site in sites.values():
        update = _site_update(site, rendered, outcome)
        if not update:
            continue
        if update["sync_status"] == SyncStatus.LIVE:
            update["last_synced_at"] = now
        update["last_sync_attempt_at"] = now
        same_revision = Site.objects.filter(pk=site.pk, revision=site.revision)
        if same_revision.update(**update):
            if (update["sync_status"], update["sync_error"]) != (
                site.sync_status,
                site.sync_error,
            ):
                changed.append((site.host, update["sync_status"], update["sync_error"]))
    return changed


def _log_outcome(outcome, hosts, duration_ms):
    level = logging.INFO if outcome.ok else logging.WARNING
    log.log(
        level,
        "sync node=%s result=%s hash=%s duration_ms=%s error=%s",
        outcome.node,
        outcome.result,
        outcome.config_hash[:12],
        duration_ms,
        outcome.error or "-",
    )
    reported = set()
    for host, status, error in outcome.changed_hosts:
        reported.add(host)
        oplog.step(
            host,
            "APPLY TO CADDY",
            "OK" if status == SyncStatus.LIVE else status.upper(),
        )
        if status == SyncStatus.LIVE:
            oplog.sync_succeeded(host)
        else:
            oplog.sync_failed(host, error)
    for host in sorted(set(hosts) - reported):
        if outcome.ok:
            oplog.sync_succeeded(host)
        else:
            oplog.sync_failed(host, outcome.error)
