from django.contrib import admin
from django.utils.html import format_html

from site_management.models import Addresses, CaddyNode, Site, SyncAttempt

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
        "status",
        "sync_badge",
        "last_synced_at",
        "sync_error",
    ]
    list_filter = ["status", "protocol", "sync_status"]
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
        (None, {"fields": ["host", "protocol", "auto_ssl", "status"]}),
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
