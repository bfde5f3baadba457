from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from site_management import overview
from site_management.models import (
    Addresses,
    CaddyNode,
    Certificate,
    Site,
    SyncAttempt,
)

# The stock index cannot be overridden from this app's templates (the admin
# app comes first in INSTALLED_APPS), so the default site is pointed at ours.
admin.site.index_template = "admin/site_management/index.html"

LEASE_BUSY = (
    "Another sync kept Caddy busy for too long; nothing was applied by this "
    "one. Try again in a moment, or look at the sync history."
)
ERROR_CHARS = 80

# Reading order on the dashboard: what is fine first, then what needs a look.
BADGE_COLOURS = {
    "live": "#2e7d32",
    "pending": "#ef6c00",
    "failed": "#c62828",
    "drifted": "#6a1b9a",
}


def _by_state(item):
    order = list(BADGE_COLOURS)
    return order.index(item[0]) if item[0] in order else len(order)


def _short_error(text):
    short = Truncator(text).chars(ERROR_CHARS)
    return format_html('<span title="{}">{}</span>', text, short) if text else "-"


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """Per-object history (who changed what, when) that cannot revert.

    A revert from the history form would be half a revert: it cannot bring a
    site's addresses back (they are their own rows), and an old certificate
    would meet the current key, which the history never holds.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context)


class AddressesInline(admin.TabularInline):
    model = Addresses
    extra = 1
    fields = ["ip_address"]


@admin.register(Site)
class SiteAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "host",
        "protocol",
        "auto_ssl",
        "certificate",
        "status",
        "sync_badge",
        "last_synced_at",
        "error_column",
    ]
    list_filter = ["status", "protocol", "sync_status"]
    list_select_related = ["certificate"]
    search_fields = ["host", "addresses__ip_address"]
    inlines = [AddressesInline]
    actions = ["sync_now_action"]
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
            '<span class="sync-badge sync-{}" title="{}" style="color:#fff;'
            'background:{};padding:1px 6px;border-radius:8px">{}</span>',
            site.sync_status,
            site.sync_error,
            colour,
            site.sync_status,
        )

    @admin.display(description="sync error", ordering="sync_error")
    def error_column(self, site):
        # Caddy's messages run to several hundred characters; the list keeps
        # one line per site and the whole text stays on hover and on the page.
        return _short_error(site.sync_error)

    def get_urls(self):
        # Before the stock URLs: their "<object_id>/" would take these paths.
        return [
            path(
                "sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="site_management_site_sync_now",
            ),
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="site_management_site_dashboard",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        context = {**self._tools_context(request), **(extra_context or {})}
        return super().changelist_view(request, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {**self._tools_context(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def _tools_context(self, request):
        return {
            "can_sync": self.has_change_permission(request),
            "sync_now_url": reverse("admin:site_management_site_sync_now"),
            "dashboard_url": reverse("admin:site_management_site_dashboard"),
        }

    def sync_now_view(self, request):
        """The object-tools button: POST only, so a link, a prefetch or a
        crawler never pushes a config."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        self.sync_now_and_report(request)
        return HttpResponseRedirect(self._back_url(request))

    @admin.action(
        description="Sync now (applies every site, not only the selected)",
        permissions=["change"],
    )
    def sync_now_action(self, request, queryset):
        # Caddy takes one whole config, so the selection cannot narrow it.
        self.sync_now_and_report(request)

    def sync_now_and_report(self, request):
        try:
            outcomes = overview.sync_now(request.user.get_username())
        except overview.LeaseBusy:
            self.message_user(request, LEASE_BUSY, messages.WARNING)
            return
        for outcome in outcomes:
            self._report(request, outcome, named=len(outcomes) > 1)

    def _report(self, request, outcome, named):
        prefix = f"{outcome.node}: " if named else ""
        if not outcome.ok:
            self.message_user(request, prefix + outcome.problem, messages.ERROR)
            return
        served = f"Caddy serves the database ({outcome.result})"
        self.message_user(request, prefix + served, messages.SUCCESS)
        if outcome.problem:  # applied, with a warning such as an expiring cert
            self.message_user(request, prefix + outcome.problem, messages.WARNING)

    def _back_url(self, request):
        back = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return back if safe else reverse("admin:site_management_site_changelist")

    def dashboard_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **self._tools_context(request),
            "title": "Caddy sync dashboard",
            "opts": self.model._meta,
            "states": self._state_links(),
            "nodes": overview.nodes(),
            "failed_sites": overview.failed_sites(),
            "failures": overview.recent_failures(),
        }
        return TemplateResponse(
            request, "admin/site_management/dashboard.html", context
        )

    def _state_links(self):
        changelist = reverse("admin:site_management_site_changelist")
        return [
            {
                "state": state,
                "count": count,
                "colour": BADGE_COLOURS.get(state, "#555"),
                "url": f"{changelist}?sync_status__exact={state}",
            }
            for state, count in sorted(overview.state_counts().items(), key=_by_state)
        ]


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
        "error_column",
    ]
    list_filter = ["result", "drift", "node"]
    list_select_related = ["node"]
    search_fields = ["trigger", "error"]
    date_hierarchy = "started_at"

    @admin.display(description="error", ordering="error")
    def error_column(self, attempt):
        return _short_error(attempt.error)

    def changelist_view(self, request, extra_context=None):
        context = {"title": "Sync history", **(extra_context or {})}
        return super().changelist_view(request, context)

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
class CertificateAdmin(ReadOnlyHistoryAdmin):
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


class AuditTrailAdmin(admin.ModelAdmin):
    """Who changed what, including rows deleted since; nothing here is
    editable, an audit trail that could be edited would prove nothing."""

    subject_fields = []
    audit_title = ""
    # Changes with every save; listing it would bury the change that matters.
    quiet_fields = {"updated_at"}
    date_hierarchy = "history_date"
    list_filter = ["history_type", ("history_user", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["history_user"]
    list_per_page = 50

    def get_list_display(self, request):
        who = ["when", "who", "action"]
        return [*who, *self.subject_fields, "changes", "reason"]

    def get_list_display_links(self, request, list_display):
        return ["when"]

    @admin.display(description="when", ordering="history_date")
    def when(self, record):
        return record.history_date

    @admin.display(description="by", ordering="history_user")
    def who(self, record):
        # No user: a change made outside a request (shell, script, command).
        return record.history_user or "-"

    @admin.display(description="change", ordering="history_type")
    def action(self, record):
        return record.get_history_type_display()

    @admin.display(description="reason")
    def reason(self, record):
        return record.history_change_reason or "-"

    @admin.display(description="changes")
    def changes(self, record):
        previous = record.prev_record if record.history_type == "~" else None
        if previous is None:
            return "-"
        recorded = {field.name for field in previous._meta.fields}
        delta = record.diff_against(
            previous, excluded_fields=sorted(self.quiet_fields & recorded)
        )
        return "; ".join(
            f"{change.field}: {_short(change.old)} \u2192 {_short(change.new)}"
            for change in delta.changes
        )

    def get_fields(self, request, obj=None):
        # Every recorded column, the derived ones too (fingerprint, expiry),
        # which a form would leave out as not editable.
        return [field.name for field in self.model._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def changelist_view(self, request, extra_context=None):
        context = {"title": self.audit_title, **(extra_context or {})}
        return super().changelist_view(request, context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _short(value):
    return Truncator(str(value)).chars(40)


@admin.register(Site.history.model)
class SiteAuditAdmin(AuditTrailAdmin):
    audit_title = "Audit trail: sites"
    subject_fields = ["host", "protocol", "status"]
    search_fields = ["host"]


@admin.register(Addresses.history.model)
class AddressesAuditAdmin(AuditTrailAdmin):
    audit_title = "Audit trail: addresses"
    subject_fields = ["ip_address", "site_host"]
    search_fields = ["ip_address"]

    def get_queryset(self, request):
        # The site may be gone; its own history still knows its host.
        hosts = Site.history.filter(id=OuterRef("site_id")).order_by(
            "-history_date", "-history_id"
        )
        queryset = super().get_queryset(request)
        return queryset.annotate(site_host=Subquery(hosts.values("host")[:1]))

    @admin.display(description="site", ordering="site_host")
    def site_host(self, record):
        return record.site_host or f"#{record.site_id}"


@admin.register(Certificate.history.model)
class CertificateAuditAdmin(AuditTrailAdmin):
    """The history model has no private_key column (see models.Certificate),
    so neither this list nor its detail page can show the key."""

    audit_title = "Audit trail: certificates"
    subject_fields = ["name", "not_after"]
    search_fields = ["name", "fingerprint_sha256"]
