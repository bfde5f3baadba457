from django import forms
from django.contrib import admin
from django.db.models import F
from django.utils.html import format_html

from site_management.models import (
    Addresses,
    CaddyNode,
    Certificate,
    Site,
    SyncAttempt,
)

BADGE_COLOURS = {
    "live": "#2e7d32",
    "pending": "#ef6c00",
    "failed": "#c62828",
    "drifted": "#6a1b9a",
}


class AddressesInline(admin.TabularInline):
    model = Addresses
    extra = 1
    fields = ["ip_address"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = [
        "host",
        "protocol",
        "auto_ssl",
        "certificate",
        "status",
        "sync_badge",
        "last_synced_at",
        "sync_error",
    ]
    list_filter = ["status", "protocol", "sync_status"]
    list_select_related = ["certificate"]
    search_fields = ["host", "addresses__ip_address"]
    inlines = [AddressesInline]
    readonly_fields = [
        "sync_badge",
        "sync_error",
        "last_sync_attempt_at",
        "last_synced_at",
        "applied_hash",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["host", "protocol", "auto_ssl", "certificate", "status"]}),
        ("Sync", {"fields": readonly_fields}),
    ]

    @admin.display(description="sync", ordering="sync_status")
    def sync_badge(self, site):
        colour = BADGE_COLOURS.get(site.sync_status, "#555")
        return format_html(
            '<span style="color:#fff;background:{};padding:1px 6px;'
            'border-radius:8px">{}</span>',
            colour,
            site.sync_status,
        )


@admin.register(CaddyNode)
class CaddyNodeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "admin_url",
        "last_result",
        "last_attempt_at",
        "last_success_at",
        "failing_since",
        "last_drift_at",
        "last_error",
    ]

    # The default node follows CADDY_API_URL; nodes are not edited by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncAttempt)
class SyncAttemptAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "node",
        "trigger",
        "result",
        "drift",
        "duration_ms",
        "site_count",
        "error",
    ]
    list_filter = ["result", "drift", "node"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CertificateForm(forms.ModelForm):
    """Upload by pasting PEM or choosing a PEM or DER file. The key is
    write-only: the form never shows the stored one, and an empty key field
    on a change keeps it."""

    certificate = forms.CharField(
        widget=forms.Textarea, required=False, help_text="PEM text, or a file below."
    )
    certificate_upload = forms.FileField(
        required=False, label="Certificate file", help_text="PEM or DER."
    )
    private_key = forms.CharField(
        widget=forms.Textarea,
        required=False,
        help_text="PEM text, or a file below. Never shown again; leave empty "
        "to keep the stored key.",
    )
    key_upload = forms.FileField(
        required=False, label="Key file", help_text="PEM or DER."
    )
    passphrase = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="Only for an encrypted key; it is stored decrypted.",
    )

    class Meta:
        model = Certificate
        fields = ["name", "certificate", "chain", "private_key"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["private_key"] = ""

    def clean(self):
        data = super().clean()
        for field, upload in (
            ("certificate", "certificate_upload"),
            ("private_key", "key_upload"),
        ):
            if data.get(upload):
                data[field] = data[upload].read()
        if not data.get("private_key") and self.instance.pk:
            data["private_key"] = self.instance.private_key
        self.instance.passphrase = data.get("passphrase") or None
        return data


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    form = CertificateForm
    list_display = [
        "name",
        "days_left_column",
        "not_after",
        "host_names",
        "key_type",
        "short_fingerprint",
        "site_count",
    ]
    search_fields = ["name", "fingerprint_sha256"]
    readonly_fields = [
        "fingerprint_sha256",
        "names",
        "key_type",
        "not_before",
        "not_after",
        "days_left_column",
        "site_hosts",
    ]

    def get_fieldsets(self, request, obj=None):
        upload = ["name", "certificate", "certificate_upload", "chain"]
        upload += ["private_key", "key_upload", "passphrase"]
        return [
            (None, {"fields": upload}),
            ("Checked", {"fields": self.readonly_fields}),
        ]

    @admin.display(description="days left", ordering=F("not_after").asc())
    def days_left_column(self, cert):
        return cert.days_left

    @admin.display(description="names")
    def host_names(self, cert):
        return ", ".join(cert.names)

    @admin.display(description="SHA-256")
    def short_fingerprint(self, cert):
        return cert.fingerprint_sha256[:16]

    @admin.display(description="sites")
    def site_count(self, cert):
        return cert.sites.count()

    @admin.display(description="used by")
    def site_hosts(self, cert):
        return ", ".join(cert.sites.values_list("host", flat=True)) or "-"
