import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from site_management.caddy.background import syncer


class Command(BaseCommand):
    help = (
        "Keep Caddy in step with the database: sync now, then reconcile every "
        "CADDY_RECONCILE_SECONDS, retrying failures with backoff. For setups "
        "without a broker; with one, run Celery workers and beat instead."
    )

    def handle(self, *args, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        syncer.reconcile_every(settings.CADDY_RECONCILE_SECONDS)
        self.stdout.write(
            f"caddy worker: reconciling {settings.CADDY_API_URL} every "
            f"{settings.CADDY_RECONCILE_SECONDS}s"
        )
        stop.wait()
        self.stdout.write("caddy worker stopping")
