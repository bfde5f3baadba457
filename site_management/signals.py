"""Signals that turn a change in the database into a sync request.

`caddy_sync_required` (with action `update`, `delete` or `update_ssl`) and
`ssl_certificate_uploaded` are the signals code outside this app sends when
it changed something Caddy serves; saves and deletes of sites and addresses
are caught by Django's own signals.
"""

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import Signal, receiver

from site_management import oplog
from site_management.caddy.trigger import request_sync
from site_management.models import Addresses, Certificate, Site, SyncStatus

caddy_sync_required = Signal()  # sender, instance (a Site), action
ssl_certificate_uploaded = Signal()  # sender, instance (a Site)

SYNC_ACTIONS = ("update", "delete", "update_ssl")


def mark_pending(site_pk):
    """Flag the site as changed, inside the saving transaction: the revision
    bump makes a sync that read the old row leave it pending."""
    Site.objects.filter(pk=site_pk).update(
        sync_status=SyncStatus.PENDING, revision=F("revision") + 1
    )


def mark_pending_in_bulk(site_ids):
    """The same for writes that bypass save(): queryset updates, bulk_create."""
    Site.objects.filter(pk__in=site_ids).update(
        sync_status=SyncStatus.PENDING, revision=F("revision") + 1
    )
    request_sync("bulk change")


def _log_on_commit(write, *args):
    # A rolled-back save must not leave "created" or "required" in the log.
    transaction.on_commit(lambda: write(*args))


def _changed(site, action):
    _log_on_commit(oplog.sync_required, site.host, action)
    if action != "delete":
        mark_pending(site.pk)
    request_sync(f"{action} {site.host}", site.host)


@receiver(post_save, sender=Site, dispatch_uid="site_saved")
def site_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        _log_on_commit(oplog.site_created, instance.host)
    _changed(instance, "create" if created else "update")


@receiver(post_delete, sender=Site, dispatch_uid="site_deleted")
def site_deleted(sender, instance, **kwargs):
    _changed(instance, "delete")


@receiver(post_save, sender=Addresses, dispatch_uid="address_saved")
@receiver(post_delete, sender=Addresses, dispatch_uid="address_deleted")
def address_changed(sender, instance, raw=False, **kwargs):
    if raw:
        return
    site = Site.objects.filter(pk=instance.site_id).only("pk", "host").first()
    if site is not None:
        _changed(site, "update")


@receiver(caddy_sync_required, dispatch_uid="caddy_sync_required")
def sync_required(sender, instance, action="update", **kwargs):
    if action not in SYNC_ACTIONS:
        raise ValueError(f"action must be one of {SYNC_ACTIONS}, not {action!r}")
    _changed(instance, action)


@receiver(ssl_certificate_uploaded, dispatch_uid="ssl_certificate_uploaded")
def certificate_uploaded(sender, instance, **kwargs):
    _changed(instance, "update_ssl")


@receiver(post_save, sender=Certificate, dispatch_uid="certificate_saved")
def certificate_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    _certificate_changed(instance, list(instance.sites.values_list("pk", flat=True)))


@receiver(pre_delete, sender=Certificate, dispatch_uid="certificate_deleting")
def certificate_deleting(sender, instance, **kwargs):
    # By post_delete the sites' foreign keys are already NULL; note them now.
    instance._site_ids = list(instance.sites.values_list("pk", flat=True))


@receiver(post_delete, sender=Certificate, dispatch_uid="certificate_deleted")
def certificate_deleted(sender, instance, **kwargs):
    _certificate_changed(instance, getattr(instance, "_site_ids", []))


def _certificate_changed(certificate, site_ids):
    """Every site using the certificate changes with it; even with none, a
    sync writes or removes its files."""
    Site.objects.filter(pk__in=site_ids).update(
        sync_status=SyncStatus.PENDING, revision=F("revision") + 1
    )
    request_sync(f"certificate {certificate.name}")
