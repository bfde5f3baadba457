"""The sites an operator keeps, and where each Caddy node stands with them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, models, transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords

from site_management import certificates
from site_management.fields import (
    CertificateTextField,
    HostField,
    PrivateKeyTextField,
    UpstreamField,
)


class SyncingQuerySet(models.QuerySet):
    """Bulk writes skip save() and post_save; validate and sync them too.

    Without this, `Site.objects.filter(...).update(host=...)` would store an
    unchecked value and reach Caddy only at the next reconcile.
    """

    def update(self, **values):
        if set(values) <= set(getattr(self.model, "SYNC_FIELDS", ())):
            return super().update(**values)  # the sync engine's own writes
        values = {name: self._clean(name, value) for name, value in values.items()}
        rows = list(self.values_list("pk", self._site_field()))
        computed = [name for name, value in values.items() if _is_expression(value)]

        try:
            with transaction.atomic(using=self.db):
                count = super().update(**values)
                self._check_computed([pk for pk, _ in rows], computed)
                self._check_rows([pk for pk, _ in rows], values)
        except (IntegrityError, DataError) as error:
            raise ValidationError(self._refusal(values, error)) from None

        if count:
            _changed_in_bulk([site_id for _, site_id in rows])
        return count

    def bulk_create(self, objs, *args, **kwargs):
        for obj in objs:
            obj.full_clean()
        created = super().bulk_create(objs, *args, **kwargs)
        _changed_in_bulk([_site_id(obj) for obj in created])
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        for obj in objs:
            # Rows named by their pk, perhaps built by hand: they exist, so
            # their own pk and host are no clash with themselves.
            obj._state.adding = False
            obj.full_clean()
        count = super().bulk_update(objs, fields, *args, **kwargs)
        _changed_in_bulk([_site_id(obj) for obj in objs])
        return count

    def _clean(self, name, value):
        if _is_expression(value):
            return value  # known only once the database computed it
        if isinstance(value, models.Model):
            value = value.pk  # update(site=a_site): the field checks the key
        try:
            return self.model._meta.get_field(name).clean(value, None)
        except ValidationError as error:
            raise ValidationError({name: error.messages}) from None

    def _check_computed(self, pks, names):
        """Check what expressions like Concat(F("host"), ...) stored, row by
        row, inside the update's transaction: a bad value rolls it all back,
        a value in another spelling is stored in its normal form."""
        if not names:
            return
        stored = self.model._base_manager.filter(pk__in=pks)
        for pk, *computed in stored.values_list("pk", *names):
            clean = {
                name: self._clean(name, value)
                for name, value in zip(names, computed, strict=True)
            }
            if clean != dict(zip(names, computed, strict=True)):
                models.QuerySet(self.model).filter(pk=pk).update(**clean)

    def _check_rows(self, pks, values):
        """Run the model's own checks across fields (an https site needs
        auto_ssl or a certificate) on the updated rows, when the update
        touched a field they read."""
        if not set(values) & set(getattr(self.model, "CLEAN_READS", ())):
            return
        for row in self.model._base_manager.filter(pk__in=pks):
            row.clean()

    def _refusal(self, values, error):
        """The database's refusal of an update, as errors on the fields."""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "unique" not in reason.lower():
            return {name: f"The database refused it: {reason}" for name in values}
        messages = {}
        for constraint in self.model._meta.total_unique_constraints:
            for name in set(constraint.fields) & set(values):
                messages[name] = constraint.get_violation_error_message()
        for name in values:
            if self.model._meta.get_field(name).unique:
                clash = self.model().unique_error_message(self.model, (name,))
                messages[name] = clash.messages[0]
        return messages or {name: reason for name in values}

    def _site_field(self):
        return "pk" if self.model is Site else "site_id"


def _is_expression(value):
    return hasattr(value, "resolve_expression")


def _site_id(obj):
    return obj.site_id if hasattr(obj, "site_id") else obj.pk


def _changed_in_bulk(site_ids):
    from site_management.signals import mark_pending_in_bulk

    mark_pending_in_bulk([pk for pk in site_ids if pk is not None])


class CertificateQuerySet(models.QuerySet):
    """Bulk writes of certificates get the same check as save().

    A certificate's fingerprint, names and dates are derived from its PEM by
    clean(), and its sites must follow it to Caddy; an unchecked PEM would
    reach Caddy's certificate files and keep Caddy from starting. So update()
    and bulk_update() save row by row (certificates are few), and
    bulk_create() checks every object before the insert.
    """

    def update(self, **values):
        computed = [name for name, value in values.items() if _is_expression(value)]
        if computed:
            message = "A certificate takes a value, not a computed one."
            raise ValidationError({name: message for name in computed})
        with transaction.atomic(using=self.db):
            rows = list(self)
            for row in rows:
                for name, value in values.items():
                    setattr(row, name, value)
                row.save()
        return len(rows)

    def bulk_update(self, objs, fields, *args, **kwargs):
        with transaction.atomic(using=self.db):
            for obj in objs:
                obj.save()
        return len(objs)

    def bulk_create(self, objs, *args, **kwargs):
        for obj in objs:
            obj.full_clean()
        return super().bulk_create(objs, *args, **kwargs)


class SyncStatus(models.TextChoices):
    PENDING = "pending", "pending"
    LIVE = "live", "live"
    FAILED = "failed", "failed"
    DRIFTED = "drifted", "drifted"


class Certificate(models.Model):
    """An uploaded TLS certificate with its chain and key; sites point at it.

    The derived fields are filled by clean() from the PEM text; the key is
    kept as unencrypted PKCS#8 PEM because Caddy reads it without a prompt.
    """

    name = models.CharField(max_length=200, unique=True)
    certificate = CertificateTextField(
        help_text="PEM (or DER) certificate; it may also hold the chain."
    )
    chain = CertificateTextField(
        blank=True, help_text="Intermediate certificates, in any order."
    )
    private_key = PrivateKeyTextField()
    key_type = models.CharField(max_length=30, blank=True, editable=False)
    not_before = models.DateTimeField(null=True, blank=True, editable=False)
    not_after = models.DateTimeField(null=True, blank=True, editable=False)
    fingerprint_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    names = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: set it before full_clean() to decrypt an encrypted key.
    passphrase = None

    objects = CertificateQuerySet.as_manager()

    # Who changed what; the key never goes into the audit trail.
    history = HistoricalRecords(
        excluded_fields=["private_key"],
        verbose_name="certificate change",
        verbose_name_plural="audit trail: certificates",
    )

    class Meta:
        ordering = ["not_after", "name"]

    def __str__(self):
        return self.name

    @property
    def days_left(self):
        if self.not_after is None:
            return None
        return (self.not_after - timezone.now()).days

    def clean(self):
        texts = (self.certificate, self.chain, self.private_key)
        if not all(isinstance(text, str) for text in texts):
            # An upload clean_fields() could not read; it has said why.
            return
        checked = certificates.check(
            self.certificate, self.chain, self.private_key, self.passphrase
        )
        self.certificate, self.chain = checked.certificate, checked.chain
        self.private_key, self.key_type = checked.private_key, checked.key_type
        self.not_before, self.not_after = checked.not_before, checked.not_after
        self.fingerprint_sha256, self.names = checked.fingerprint, checked.names
        self._check_sites_still_covered()

    def _check_sites_still_covered(self):
        if self.pk is None:
            return
        https = self.sites.filter(protocol=Site.Protocol.HTTPS)
        lost = [s.host for s in https if not certificates.covers(self.names, s.host)]
        if lost:
            raise ValidationError(
                {"certificate": f"it no longer covers {', '.join(sorted(lost))}"}
            )

    def save(self, *args, **kwargs):
        self.full_clean()
        super().save(*args, **kwargs)
        self.passphrase = None


class Site(models.Model):
    class Protocol(models.TextChoices):
        HTTP = "http", "http"
        HTTPS = "https", "https"

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        INACTIVE = "inactive", "inactive"
        MAINTENANCE = "maintenance", "maintenance"

    host = HostField(
        unique=True,
        help_text="Lower-case host name; internationalised names are stored in "
        "their ASCII form; one leading '*.' makes a wildcard.",
    )
    protocol = models.CharField(
        max_length=5, choices=Protocol.choices, default=Protocol.HTTP
    )
    auto_ssl = models.BooleanField(
        default=False, help_text="Let Caddy obtain and renew the certificate."
    )
    status = models.CharField(
        max_length=11, choices=Status.choices, default=Status.ACTIVE
    )
    certificate = models.ForeignKey(
        Certificate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sites",
        help_text="An uploaded certificate; an https site with one is served "
        "with it and never through ACME.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Written only by the sync engine, through queryset updates, never by
    # save(): a stale instance saved later must not roll the outcome back.
    revision = models.PositiveBigIntegerField(default=0, editable=False)
    sync_status = models.CharField(
        max_length=7,
        choices=SyncStatus.choices,
        default=SyncStatus.PENDING,
        editable=False,
    )
    sync_error = models.TextField(blank=True, editable=False)
    last_sync_attempt_at = models.DateTimeField(null=True, editable=False)
    last_synced_at = models.DateTimeField(null=True, editable=False)
    applied_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The version Caddy last accepted, served while a newer one is refused.
    applied_spec = models.JSONField(null=True, blank=True, editable=False)
    # The version Caddy refused; not tried again until the site changes.
    rejected_hash = models.CharField(max_length=64, blank=True, editable=False)

    SYNC_FIELDS = (
        "revision",
        "sync_status",
        "sync_error",
        "last_sync_attempt_at",
        "last_synced_at",
        "applied_hash",
        "applied_spec",
        "rejected_hash",
    )

    # The fields clean() reads; a queryset update() of one of them runs it.
    CLEAN_READS = ("host", "protocol", "auto_ssl", "certificate")

    objects = SyncingQuerySet.as_manager()

    # Who changed what; the sync's own bookkeeping is not an operator's change.
    history = HistoricalRecords(
        excluded_fields=list(SYNC_FIELDS),
        verbose_name="site change",
        verbose_name_plural="audit trail: sites",
    )

    class Meta:
        ordering = ["host"]

    def __str__(self):
        return self.host

    def clean(self):
        if self.protocol != self.Protocol.HTTPS:
            return
        if self.certificate_id is not None:
            self._check_certificate_covers()
            return
        if not self.auto_ssl:
            raise ValidationError(
                {
                    "auto_ssl": "An https site needs auto_ssl or a certificate "
                    "that covers its host."
                }
            )
        wildcard = (self.host or "").startswith("*.")
        if wildcard and settings.CADDY_TLS_ISSUER == "acme":
            # ACME hands out wildcard certificates only through the DNS
            # challenge, which needs a DNS provider module Caddy lacks here.
            raise ValidationError(
                {
                    "auto_ssl": "A wildcard host cannot get an automatic ACME "
                    "certificate here (it needs the DNS challenge); use http, "
                    "or CADDY_TLS_ISSUER=internal for local use."
                }
            )

    def _check_certificate_covers(self):
        names = self.certificate.names
        if not self.host or certificates.covers(names, self.host):
            return
        # Blame what the operator just changed: a renamed host, else the pick.
        renamed = Site.objects.filter(pk=self.pk).exclude(host=self.host).exists()
        raise ValidationError(
            {
                "host" if renamed else "certificate": f"The certificate "
                f"{self.certificate.name} does not cover {self.host}: it names "
                f"{', '.join(names) or 'no host'}."
            }
        )

    def save(self, *args, **kwargs):
        self.full_clean()
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.SYNC_FIELDS
            ]
        super().save(*args, **kwargs)


class Addresses(models.Model):
    """An upstream a site is proxied to (the name is the one users know)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="addresses")
    ip_address = UpstreamField(
        help_text="host:port of the upstream, e.g. 127.0.0.1:8080 or [::1]:8080"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SyncingQuerySet.as_manager()
    history = HistoricalRecords(
        verbose_name="address change", verbose_name_plural="audit trail: addresses"
    )

    class Meta:
        verbose_name = "address"
        verbose_name_plural = "addresses"
        ordering = ["site_id", "ip_address"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "ip_address"],
                name="unique_upstream_per_site",
                violation_error_message="This site already has that upstream address.",
            )
        ]

    def __str__(self):
        return self.ip_address

    def save(self, *args, **kwargs):
        self.full_clean()
        super().save(*args, **kwargs)


class CaddyNode(models.Model):
    """One Caddy server the control plane keeps in step with the database."""

    name = models.CharField(max_length=100, unique=True)
    admin_url = models.CharField(max_length=200)
    applied_hash = models.CharField(max_length=64, blank=True)
    applied_etag = models.CharField(max_length=200, blank=True)
    last_attempt_at = models.DateTimeField(null=True)
    last_success_at = models.DateTimeField(null=True)
    last_result = models.CharField(max_length=20, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True)
    last_drift_at = models.DateTimeField(null=True)
    failing_since = models.DateTimeField(null=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SyncAttempt(models.Model):
    """One attempt to bring a node in line with the database."""

    class Result(models.TextChoices):
        APPLIED = "applied", "applied"
        UNCHANGED = "unchanged", "unchanged"
        PARTIAL = "partial", "applied without refused sites"
        UNREACHABLE = "unreachable", "Caddy unreachable"
        REJECTED = "rejected", "rejected by Caddy"

    node = models.ForeignKey(
        CaddyNode, on_delete=models.CASCADE, related_name="attempts"
    )
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    trigger = models.CharField(max_length=200)
    result = models.CharField(max_length=20, choices=Result.choices)
    drift = models.BooleanField(
        default=False, help_text="Caddy ran a config this project had not applied."
    )
    config_hash = models.CharField(max_length=64)
    site_count = models.PositiveIntegerField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["node", "-started_at"])]

    def __str__(self):
        return f"{self.node} {self.started_at:%Y-%m-%d %H:%M:%S} {self.result}"
