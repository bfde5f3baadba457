from django.apps import AppConfig


class SiteManagementConfig(AppConfig):
    name = "site_management"
    verbose_name = "Sites"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from site_management import signals  # noqa: F401  (connects receivers)
