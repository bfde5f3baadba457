from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from site_management.caddy.background import syncer
from site_management.caddy.owned import start_for_command


class Command(BaseCommand):
    help = (
        "Run the whole product in one process: Caddy, the admin on ADDRPORT, "
        "and the sync with its periodic reconcile (in-process, no broker)."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        caddy = start_for_command(self.stdout)

        # The worker's job runs here too: sync now, then reconcile on a period.
        syncer.reconcile_every(settings.CADDY_RECONCILE_SECONDS)
        try:
            # The admin's own static files, served by this process since
            # DEBUG is off; fine for the loopback admin this command runs.
            call_command(
                "runserver", addrport, use_reloader=False, insecure_serving=True
            )
        finally:
            caddy.stop()
