"""Bring each Caddy node in line with the database.

A sync renders every site, compares the result with what the node runs, and
replaces the node's whole config in one request when they differ (apply.py).
The outcome goes onto rows: the node, a SyncAttempt, and each site whose
state changed. Errors never propagate to whoever saved a site.
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

from site_management.caddy import certfiles, notify, outcome_log
from site_management.caddy.apply import NodeApplier, Plan
from site_management.caddy.client import CaddyClient, CaddyError
from site_management.caddy.isolate import spec_from_json
from site_management.caddy.render import render
from site_management.caddy.site_state import record_sites
from site_management.caddy.specs import load_site_specs, render_options
from site_management.models import CaddyNode, SyncAttempt

log = logging.getLogger("site_management.caddy.sync")

# Longer than the slowest sync can take (a few admin calls, each with a
# timeout), so a live holder never loses its lease to another process.
LEASE_SECONDS = 300
Result = SyncAttempt.Result


class LeaseBusy(Exception):
    """Another process is applying to this node right now."""


@dataclass
class SyncOutcome:
    node: str
    result: str
    config_hash: str
    error: str = ""
    drift: bool = False
    refused: dict = field(default_factory=dict)
    changed_hosts: list = field(default_factory=list)
    # Not failures of the sync, but worth the same notification.
    warnings: list = field(default_factory=list)

    @property
    def ok(self):
        return self.result in (Result.APPLIED, Result.UNCHANGED)

    @property
    def retryable(self):
        return self.result == Result.UNREACHABLE

    @property
    def problem(self):
        """A one-line summary of what is wrong after this sync, or ""."""
        return "; ".join(filter(None, [self._failure(), *self.warnings]))

    def _failure(self):
        if self.error:
            return self.error
        if self.refused:
            return f"{len(self.refused)} site(s) not applied: " + "; ".join(
                f"{host}: {reason}" for host, reason in sorted(self.refused.items())
            )
        return ""


def default_node():
    """The node named by CADDY_API_URL; the setting wins over the row."""
    node, _ = CaddyNode.objects.get_or_create(
        name="default", defaults={"admin_url": settings.CADDY_API_URL}
    )
    if node.admin_url != settings.CADDY_API_URL:
        node.admin_url = settings.CADDY_API_URL
        node.save(update_fields=["admin_url"])
    return node


def sync_all(trigger, hosts=(), wait_seconds=0.0, on_lease=None):
    """Sync every node; returns one SyncOutcome per node.

    Raises LeaseBusy when another process holds a node for longer than
    `wait_seconds`; the caller decides when to try again. `on_lease`, if
    given, is called once a node is held and before the database is read.
    """
    try:
        return [sync_node(default_node(), trigger, hosts, wait_seconds, on_lease)]
    finally:
        close_old_connections()


def sync_node(node, trigger, hosts=(), wait_seconds=0.0, on_lease=None):
    token = _acquire_lease(node, wait_seconds)
    try:
        if on_lease is not None:
            on_lease()
        return _sync_locked(node, trigger, hosts)
    finally:
        CaddyNode.objects.filter(pk=node.pk, lease_owner=token).update(
            lease_owner="", lease_until=None
        )


def _acquire_lease(node, wait_seconds):
    """Claim the node with one conditional UPDATE; works the same on SQLite
    and PostgreSQL, and an expired lease of a crashed process is taken over."""
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
    options = render_options()
    desired = render(specs, options)
    used_certificates = _write_certificate_files(specs)
    plan = make_plan(specs, sites, desired, options, used_certificates)

    client = CaddyClient(node.admin_url, settings.CADDY_TIMEOUT_SECONDS)
    applier = NodeApplier(client, node.applied_hash, desired, specs)
    try:
        applied = applier.apply(plan)
    except CaddyError as error:
        applied = applier.failed(Result.UNREACHABLE, str(error))

    if applied.result in (Result.APPLIED, Result.UNCHANGED, Result.PARTIAL):
        certfiles.prune(used_certificates)
    duration_ms = int((time.monotonic() - clock) * 1000)
    outcome = _outcome(node, applied, desired, sites, plan)
    outcome.warnings = expiry_warnings()
    _record_node(node, outcome, applied, started_at, duration_ms)
    _record_attempt(node, trigger, outcome, started_at, duration_ms, len(specs))
    outcome.changed_hosts = record_sites(specs, sites, desired, plan, applied)
    notify.track_episode(node, outcome.problem)
    outcome_log.log_outcome(outcome, hosts, duration_ms)
    return outcome


def _write_certificate_files(specs):
    """Write the certificate files before Caddy is told to load them. A
    failure is logged; Caddy then refuses the sites whose files are missing."""
    try:
        return certfiles.write_for_specs(specs)
    except OSError as error:
        log.error("certificate files not written: %s", error)
        return {spec.certificate for spec in specs if spec.certificate}


def make_plan(specs, sites, desired, options, used_certificates=None):
    """Sort sites into stable, changed and held (see Plan)."""
    stable, changed, held, previous = [], [], [], {}
    for spec in specs:
        row = sites[spec.pk]
        if row.applied_spec:
            kept = spec_from_json(row.applied_spec)
            # A certificate that was deleted or detached is not served on:
            # its files go, and the operator may have removed it on purpose.
            if not kept.certificate or kept.certificate in (used_certificates or ()):
                previous[spec.pk] = kept
        if spec.pk in desired.refused:
            continue
        site_hash = desired.site_hashes[spec.pk]
        if row.applied_hash == site_hash:
            stable.append(spec)
            previous.pop(spec.pk, None)
        elif row.rejected_hash == site_hash:
            held.append(spec)
        else:
            changed.append(spec)
    return Plan(options, stable, changed, held, previous)


def _outcome(node, applied, desired, sites, plan):
    refused = {sites[pk].host: reason for pk, reason in applied.refused.items()}
    refused.update({sites[pk].host: reason for pk, reason in desired.refused.items()})
    # Held sites are still not applied: say so until they change, or the next
    # sync would report the node healthy and notify a recovery.
    refused.update(
        {sites[spec.pk].host: sites[spec.pk].sync_error for spec in plan.held}
    )
    result = applied.result
    if result in (Result.APPLIED, Result.UNCHANGED) and refused:
        result = Result.PARTIAL
    config_hash = applied.config_hash or desired.hash
    return SyncOutcome(
        node.name, result, config_hash, applied.error, applied.drift, refused
    )


def _record_node(node, outcome, applied, started_at, duration_ms):
    node.last_attempt_at = started_at
    node.last_duration_ms = duration_ms
    node.last_result = outcome.result
    node.last_error = outcome.problem
    fields = ["last_attempt_at", "last_duration_ms", "last_result", "last_error"]
    if applied.etag:
        node.applied_hash, node.applied_etag = outcome.config_hash, applied.etag
        node.last_success_at = timezone.now()
        fields += ["applied_hash", "applied_etag", "last_success_at"]
    if outcome.drift:
        node.last_drift_at = started_at
        fields.append("last_drift_at")
    node.save(update_fields=fields)


def _record_attempt(node, trigger, outcome, started_at, duration_ms, site_count):
    SyncAttempt.objects.create(
        node=node,
        started_at=started_at,
        duration_ms=duration_ms,
        trigger=trigger[:200],
        result=outcome.result,
        drift=outcome.drift,
        config_hash=outcome.config_hash,
        site_count=site_count,
        error=outcome.problem,
    )


def expiry_warnings():
    """One line per certificate in use within CADDY_CERT_WARN_DAYS of its
    end; one no site uses is no emergency and only caddy_certs lists it."""
    from site_management.models import Certificate

    limit = timezone.now() + timedelta(days=settings.CADDY_CERT_WARN_DAYS)
    soon = Certificate.objects.filter(not_after__lte=limit, sites__isnull=False)
    return [certificate_warning(cert) for cert in soon.distinct().order_by("not_after")]


def certificate_warning(cert):
    days = cert.days_left
    if cert.not_after <= timezone.now():
        return f"certificate {cert.name} has expired"
    return f"certificate {cert.name} expires in {days} day{'s' * (days != 1)}"


def prune_history():
    cutoff = timezone.now() - timedelta(days=settings.CADDY_HISTORY_DAYS)
    deleted, _ = SyncAttempt.objects.filter(started_at__lt=cutoff).delete()
    if deleted:
        log.info("pruned sync history rows=%s older_than=%s", deleted, cutoff)
    return deleted
