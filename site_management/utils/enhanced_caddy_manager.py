"""The manager facade that existing scripts call.

It writes the database and then waits for the one sync engine to apply the
change, so a script learns whether Caddy took it. There is no second path to
Caddy here: the same signals, renderer and sync serve the admin and the ORM.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from site_management import oplog
from site_management.caddy.background import LEASE_WAIT_SECONDS
from site_management.caddy.sync import LeaseBusy, sync_all
from site_management.models import Addresses, Site, SyncStatus
from site_management.validators import normalize_host, normalize_upstream


@dataclass
class CaddyConfig:
    host: str
    addresses: list = field(default_factory=list)
    protocol: str = "http"
    auto_ssl: bool = False
    status: str = "active"


@dataclass
class OperationResult:
    """`success` means the change is saved and Caddy serves it; `saved` alone
    means it is stored and waits for Caddy (see `error`)."""

    host: str
    success: bool
    saved: bool
    sync_status: str = ""
    error: str = ""

    def __bool__(self):
        return self.success


def _messages(error):
    if hasattr(error, "message_dict"):
        return "; ".join(
            f"{name}: {' '.join(texts)}" for name, texts in error.message_dict.items()
        )
    return " ".join(error.messages)


class EnhancedCaddyManager:
    def __init__(self, enable_logging=True):
        self.enable_logging = enable_logging

    def add_site(self, config):
        return self._write(config, self._create, "ADD SITE")

    def update_site(self, config):
        return self._write(config, self._update, "UPDATE SITE")

    def remove_site(self, host):
        try:
            site = Site.objects.filter(host=normalize_host(host)).first()
        except ValidationError as error:
            message = f"host: {_messages(error)}"
            return OperationResult(host, False, False, error=message)
        if site is None:
            return OperationResult(
                host, False, False, error=f"no site with host {host!r}"
            )
        site.delete()
        self._step(site.host, "REMOVE SITE", "SAVED")
        live, error = self._wait_for_sync()
        return OperationResult(site.host, live, True, "" if live else "pending", error)

    def _write(self, config, writer, step):
        try:
            with transaction.atomic():
                site = writer(config)
        except Site.DoesNotExist:
            message = f"no site with host {config.host!r}"
        except ValidationError as error:
            message = _messages(error)
        else:
            return self._applied(site, step, created=writer == self._create)
        self._step(config.host, step, f"REFUSED ({message})")
        return OperationResult(config.host, False, False, error=message)

    def _applied(self, site, step, created):
        self._step(site.host, step, "SAVED")
        self._wait_for_sync()
        site.refresh_from_db()
        live = site.sync_status == SyncStatus.LIVE
        if live and created:
            oplog.add_site_complete(site.host)
        return OperationResult(site.host, live, True, site.sync_status, site.sync_error)

    def _create(self, config):
        site = Site.objects.create(
            host=config.host,
            protocol=config.protocol,
            auto_ssl=config.auto_ssl,
            status=config.status,
        )
        self._set_addresses(site, config.addresses)
        return site

    def _update(self, config):
        site = Site.objects.select_for_update().get(host=normalize_host(config.host))
        site.protocol, site.auto_ssl = config.protocol, config.auto_ssl
        site.status = config.status
        site.save()
        self._set_addresses(site, config.addresses)
        return site

    @staticmethod
    def _set_addresses(site, addresses):
        wanted = {normalize_upstream(address) for address in addresses}
        site.addresses.exclude(ip_address__in=wanted).delete()
        have = set(site.addresses.values_list("ip_address", flat=True))
        for address in sorted(wanted - have):
            Addresses.objects.create(site=site, ip_address=address)

    def _wait_for_sync(self):
        """Run the sync now, here, whatever trigger the saves queued (the
        in-process one or Celery), so the caller learns how it went."""
        try:
            outcomes = sync_all(trigger="manager", wait_seconds=LEASE_WAIT_SECONDS)
        except LeaseBusy as busy:
            return False, f"{busy}; the change stays pending"
        ok = all(outcome.ok for outcome in outcomes)
        return ok, "; ".join(outcome.problem for outcome in outcomes if outcome.problem)

    def _step(self, host, step, status):
        if self.enable_logging:
            oplog.step(host, step, status)
