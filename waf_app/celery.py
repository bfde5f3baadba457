"""The Celery app, used only when CELERY_BROKER_URL is set.

celery -A waf_app worker --beat
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waf_app.settings")

app = Celery("waf_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_reconcile(sender, **kwargs):
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.CADDY_RECONCILE_SECONDS),
        sender.signature("site_management.tasks.reconcile"),
        name="reconcile caddy",
    )
