import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from site_management.caddy.owned import OwnedCaddy


class Command(BaseCommand):
    help = (
        "Run Caddy in the foreground, admin API on CADDY_API_URL, its files under "
        "CADDY_BASE_PATH, starting from the sites in the database."
    )

    def handle(self, *args, **options):
        caddy = OwnedCaddy.start()
        self.stdout.write(
            f"caddy running: admin {settings.CADDY_API_URL}, "
            f"http :{settings.CADDY_HTTP_PORT}, https :{settings.CADDY_HTTPS_PORT}, "
            f"log {caddy.log_path}"
        )
        signal.signal(signal.SIGTERM, lambda *_: caddy.stop())
        try:
            caddy.process.wait()
        except KeyboardInterrupt:
            self.stdout.write("stopping caddy")
        finally:
            caddy.stop()
