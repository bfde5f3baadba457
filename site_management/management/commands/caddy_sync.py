from django.core.management.base import BaseCommand, CommandError

from site_management.caddy.sync import LeaseBusy, sync_all


class Command(BaseCommand):
    help = (
        "Apply the database's sites to Caddy now; exit non-zero if Caddy did not "
        "take them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait",
            type=float,
            default=60.0,
            help="seconds to wait for a sync running elsewhere to finish (default 60)",
        )

    def handle(self, *args, wait, **options):
        try:
            outcomes = sync_all(trigger="caddy_sync command", wait_seconds=wait)
        except LeaseBusy as busy:
            raise CommandError(str(busy)) from None

        for outcome in outcomes:
            line = (
                f"{outcome.node}: {outcome.result} (config {outcome.config_hash[:12]})"
            )
            if outcome.ok:
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stderr.write(self.style.ERROR(f"{line}: {outcome.problem}"))
        if any(outcome.error for outcome in outcomes):
            raise CommandError(
                "Caddy did not take the config; the change stays pending"
            )
        if not all(outcome.ok for outcome in outcomes):
            raise CommandError(
                "Caddy took the config without the sites named above; they are "
                "marked failed and keep their last accepted version, if any"
            )
