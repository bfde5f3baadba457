import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from site_management.caddy.owned import CaddyStartError, OwnedCaddy


class Command(BaseCommand):
    help = (
        "Run Caddy in the foreground, admin API on CADDY_API_URL, its files under "
        "CADDY_BASE_PATH, starting from the sites in the database; Caddy is "
        "started again if it dies."
    )

    def handle(self, *args, **options):
        try:
            caddy = OwnedCaddy.start()
        except CaddyStartError as error:
            raise CommandError(str(error)) from None
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write(
            f"caddy running: admin {settings.CADDY_API_URL}, "
            f"http :{settings.CADDY_HTTP_PORT}, https :{settings.CADDY_HTTPS_PORT}, "
            f"log {caddy.log_path}"
        )
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            self.stdout.write("stopping caddy")
        finally:
            caddy.stop()
