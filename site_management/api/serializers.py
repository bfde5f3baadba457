"""How sites, certificates and their audit trail look in the API.

Each write is checked by the model's own full_clean(), the same check the
admin and the ORM use, so the API accepts and refuses exactly what they do.
"""

from django.core.exceptions import ValidationError as ModelValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from site_management.api.errors import as_field_errors
from site_management.models import (
    Addresses,
    CaddyNode,
    Certificate,
    Site,
    SyncAttempt,
)


def checked(instance, exclude=()):
    """Run the model's checks; report its errors as field errors."""
    try:
        instance.full_clean(exclude=exclude)
    except ModelValidationError as error:
        raise serializers.ValidationError(as_field_errors(error)) from None
    return instance


class AddressList(serializers.ListField):
    """A site's upstreams as plain host:port strings."""

    def get_attribute(self, site):
        return [address.ip_address for address in site.addresses.all()]


class SiteSerializer(serializers.ModelSerializer):
    addresses = AddressList(
        child=serializers.CharField(max_length=300),
        required=False,
        help_text="Upstreams as host:port; a write replaces the whole list.",
    )

    class Meta:
        model = Site
        fields = [
            "id",
            "host",
            "protocol",
            "auto_ssl",
            "status",
            "certificate",
            "addresses",
            "sync_status",
            "sync_error",
            "last_sync_attempt_at",
            "last_synced_at",
            "applied_hash",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "sync_status",
            "sync_error",
            "last_sync_attempt_at",
            "last_synced_at",
            "applied_hash",
        ]
        # The model's check compares hosts in their stored (ASCII,
        # lower-case) spelling; a plain lookup of what was typed would not.
        extra_kwargs = {"host": {"validators": []}}

    def validate(self, attrs):
        addresses = attrs.pop("addresses", None)
        site = self.instance or Site()
        for name, value in attrs.items():
            setattr(site, name, value)

        # Every reason at once: the site's own and each address's.
        errors = {}
        try:
            site.full_clean()
        except ModelValidationError as error:
            errors.update(as_field_errors(error))
        if addresses is not None:
            addresses, errors["addresses"] = self._checked_addresses(site, addresses)
        if any(errors.values()):
            raise serializers.ValidationError({k: v for k, v in errors.items() if v})

        attrs = {name: getattr(site, name) for name in attrs}
        if addresses is not None:
            attrs["addresses"] = addresses
        return attrs

    def _checked_addresses(self, site, addresses):
        """(the addresses in their stored spelling, reasons by list index)"""
        cleaned, errors = [], {}
        for index, text in enumerate(addresses):
            address = Addresses(site=site, ip_address=text)
            try:
                address.clean_fields(exclude=["site"])
            except ModelValidationError as error:
                errors[index] = error.message_dict["ip_address"]
                continue
            if address.ip_address in cleaned:
                errors[index] = [f"{address.ip_address} is listed twice."]
            cleaned.append(address.ip_address)
        return cleaned, errors

    @transaction.atomic
    def create(self, validated):
        addresses = validated.pop("addresses", [])
        site = Site.objects.create(**validated)
        self._replace_addresses(site, addresses)
        return site

    @transaction.atomic
    def update(self, site, validated):
        addresses = validated.pop("addresses", None)
        for name, value in validated.items():
            setattr(site, name, value)
        site.save()
        if addresses is not None:
            self._replace_addresses(site, addresses)
        return site

    def _replace_addresses(self, site, wanted):
        # One save or delete per changed row, so each one reaches the audit
        # trail and the sync signals like an edit in the admin does.
        for address in site.addresses.exclude(ip_address__in=wanted):
            address.delete()
        kept = set(site.addresses.values_list("ip_address", flat=True))
        for text in wanted:
            if text not in kept:
                Addresses.objects.create(site=site, ip_address=text)
        site.refresh_from_db()


CERTIFICATE_STORED_FIELDS = [
    "name",
    "certificate",
    "chain",
    "private_key",
    "key_type",
    "names",
    "fingerprint_sha256",
    "not_before",
    "not_after",
]


class CertificateSerializer(serializers.ModelSerializer):
    private_key = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        help_text="PEM private key. Never returned; omit it on a change to keep "
        "the stored key.",
    )
    passphrase = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Only for an encrypted key; the key is stored decrypted.",
    )
    certificate_file = serializers.FileField(
        write_only=True,
        required=False,
        help_text="The certificate as a PEM or DER file.",
    )
    private_key_file = serializers.FileField(
        write_only=True, required=False, help_text="The key as a PEM or DER file."
    )
    days_left = serializers.IntegerField(read_only=True, allow_null=True)
    sites = serializers.SlugRelatedField(many=True, read_only=True, slug_field="host")

    class Meta:
        model = Certificate
        fields = [
            "id",
            "name",
            "certificate",
            "chain",
            "private_key",
            "passphrase",
            "certificate_file",
            "private_key_file",
            "key_type",
            "names",
            "fingerprint_sha256",
            "not_before",
            "not_after",
            "days_left",
            "sites",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "key_type",
            "names",
            "fingerprint_sha256",
            "not_before",
            "not_after",
        ]
        extra_kwargs = {
            "certificate": {"required": False, "trim_whitespace": False},
            "chain": {"trim_whitespace": False},
            "name": {"validators": []},
        }

    def validate(self, attrs):
        files = {
            "certificate": attrs.pop("certificate_file", None),
            "private_key": attrs.pop("private_key_file", None),
        }
        for name, upload in files.items():
            if upload is not None:
                attrs[name] = upload.read()
        cert = self.instance or Certificate()
        for name in ("certificate", "private_key"):
            if not self.instance and not attrs.get(name):
                raise serializers.ValidationError(
                    {name: f"Give the {name.replace('_', ' ')} as PEM text or a file."}
                )

        passphrase = attrs.pop("passphrase", None)
        for name, value in attrs.items():
            setattr(cert, name, value)
        cert.passphrase = passphrase or None
        checked(cert)
        # What the check made of the upload: the key decrypted, the chain
        # leaf first, the names and dates read from the certificate.
        return {name: getattr(cert, name) for name in CERTIFICATE_STORED_FIELDS}

    def create(self, validated):
        return Certificate.objects.create(**validated)

    def update(self, cert, validated):
        for name, value in validated.items():
            setattr(cert, name, value)
        cert.save()
        return cert


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class AuditRecordSerializer(serializers.Serializer):
    """One entry of the audit trail: who changed which object, when, and how."""

    ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}

    history_id = serializers.IntegerField()
    object_id = serializers.IntegerField(source="id")
    object = serializers.CharField(source="history_object")
    action = serializers.SerializerMethodField()
    date = serializers.DateTimeField(source="history_date")
    user = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()

    def get_action(self, record) -> str:
        return self.ACTIONS[record.history_type]

    def get_user(self, record) -> str | None:
        return record.history_user.get_username() if record.history_user else None

    @staticmethod
    def _plain(value):
        return (
            value if isinstance(value, int | float | bool | type(None)) else str(value)
        )

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, record):
        previous = record.prev_record
        if previous is None:
            return []
        delta = record.diff_against(previous)
        return ChangeSerializer(
            [
                {"field": c.field, "old": self._plain(c.old), "new": self._plain(c.new)}
                for c in delta.changes
            ],
            many=True,
        ).data


class NodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CaddyNode
        fields = [
            "id",
            "name",
            "admin_url",
            "applied_hash",
            "last_attempt_at",
            "last_success_at",
            "last_result",
            "last_error",
            "last_duration_ms",
            "last_drift_at",
            "failing_since",
        ]


class SyncAttemptSerializer(serializers.ModelSerializer):
    node = serializers.SlugRelatedField(read_only=True, slug_field="name")

    class Meta:
        model = SyncAttempt
        fields = [
            "id",
            "node",
            "started_at",
            "duration_ms",
            "trigger",
            "result",
            "drift",
            "config_hash",
            "site_count",
            "error",
        ]


class SyncStateSerializer(serializers.Serializer):
    sites = serializers.DictField(
        child=serializers.IntegerField(), help_text="Sites per sync state."
    )
    nodes = NodeSerializer(many=True)


class SyncOutcomeSerializer(serializers.Serializer):
    node = serializers.CharField()
    result = serializers.CharField()
    ok = serializers.BooleanField()
    config_hash = serializers.CharField()
    drift = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    refused = serializers.DictField(
        child=serializers.CharField(), help_text="Refused hosts with Caddy's reason."
    )


class SyncNowSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Every node serves the database.")
    outcomes = SyncOutcomeSerializer(many=True)


class RenderedConfigSerializer(serializers.Serializer):
    config_hash = serializers.CharField()
    config = serializers.JSONField(help_text="The whole Caddy JSON config.")
    refused = serializers.DictField(
        child=serializers.CharField(),
        help_text="Sites left out of the config, by host, with the reason.",
    )


class SiteDiffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    host = serializers.CharField()
    sync_status = serializers.CharField()
    caddy = serializers.CharField(help_text="How Caddy's live routes compare.")
    verdict = serializers.CharField(help_text="live, pending, failed or drifted.")


class ConfigDiffSerializer(serializers.Serializer):
    node = serializers.CharField()
    in_step = serializers.BooleanField(help_text="Caddy runs exactly the render.")
    patch = serializers.ListField(
        child=serializers.DictField(),
        help_text="RFC 6902 operations turning Caddy's live config into the render.",
    )
    sites = SiteDiffSerializer(many=True)
    unknown_routes = serializers.ListField(child=serializers.CharField())
