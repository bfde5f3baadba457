import signal

from django.core.management.base import BaseCommand

from site_management.caddy.owned import start_for_command


class Command(BaseCommand):
    help = (
        "Run Caddy in the foreground, admin API on CADDY_API_URL, its files under "
        "CADDY_BASE_PATH, starting from the sites in the database; Caddy is "
        "started again if it dies."
    )

    def handle(self, *args, **options):
        caddy = start_for_command(self.stdout)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            self.stdout.write("stopping caddy")
        finally:
            caddy.stop()
