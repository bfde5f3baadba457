"""Write what a sync found onto the site rows, one row per changed state."""

from django.utils import timezone

from site_management.caddy import status
from site_management.caddy.isolate import spec_to_json
from site_management.models import Site, SyncAttempt, SyncStatus

Result = SyncAttempt.Result
APPLIED = (Result.APPLIED, Result.UNCHANGED)


def record_sites(specs, sites, desired, plan, applied):
    """Update each site whose state changed; return (host, status, error) for
    each of them. Updates are conditional on the revision the sync read, so
    a site saved again meanwhile stays pending for the next sync."""
    drifted = _drifted(specs, sites, desired, plan, applied)
    held = {spec.pk for spec in plan.held}
    by_pk = {spec.pk: spec for spec in specs}
    now, changed = timezone.now(), []

    for pk, row in sites.items():
        if pk in held:
            # Refused as it is now and not tried again; a save that changed
            # nothing must not leave it pending.
            update = _state(SyncStatus.FAILED, row.sync_error)
        else:
            update = _update(row, by_pk[pk], desired, applied, pk in drifted)
        if update is None or _same(row, update):
            continue
        update["last_sync_attempt_at"] = now
        if update["sync_status"] == SyncStatus.LIVE:
            update["last_synced_at"] = now
        if Site.objects.filter(pk=pk, revision=row.revision).update(**update):
            changed.append((row.host, update["sync_status"], update["sync_error"]))
    return changed


def _update(row, spec, desired, applied, drifted):
    if spec.pk in desired.refused:
        return _state(SyncStatus.FAILED, desired.refused[spec.pk])
    site_hash = desired.site_hashes[spec.pk]
    if spec.pk in applied.refused:
        update = _state(SyncStatus.FAILED, applied.refused[spec.pk])
        return {**update, "rejected_hash": site_hash}

    if applied.result in APPLIED:
        return {
            **_state(SyncStatus.LIVE, ""),
            "applied_hash": site_hash,
            "applied_spec": spec_to_json(spec),
            "rejected_hash": "",
        }
    if drifted:
        return _state(SyncStatus.DRIFTED, f"Caddy runs another config: {applied.error}")
    if applied.result == Result.UNREACHABLE:
        # Nothing is known to be served while Caddy cannot be reached; a row
        # that kept saying live would be a guess, not the truth.
        return _state(SyncStatus.PENDING, applied.error)
    if row.applied_hash == site_hash:
        return None  # Caddy refused the document but kept running this part
    return _state(SyncStatus.FAILED, applied.error)


def _state(sync_status, error):
    return {"sync_status": sync_status, "sync_error": error}


def _same(row, update):
    return all(getattr(row, name) == value for name, value in update.items())


def _drifted(specs, sites, desired, plan, applied):
    """Sites shown live whose routes in Caddy differ from ours (someone edited
    Caddy, or it restarted empty). Only worth knowing when the repair failed."""
    if applied.result in APPLIED or not applied.live_before:
        return set()
    states = status.compare_sites(applied.live_before, desired, specs, plan.options)
    return {
        pk
        for pk, state in states.items()
        if state != status.MATCHES and sites[pk].sync_status == SyncStatus.LIVE
    }
