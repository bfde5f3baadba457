from django.core.management.base import BaseCommand, CommandError

from site_management.caddy import preview
from site_management.caddy.client import CaddyError
from site_management.caddy.sync import default_node


class Command(BaseCommand):
    help = "Show, per site, whether what Caddy runs matches the database."

    def handle(self, *args, **options):
        node = default_node()
        try:
            comparison = preview.compare(node)
        except CaddyError as error:
            raise CommandError(
                f"cannot read Caddy's config at {node.admin_url}: {error}"
            ) from None

        # A site Caddy refused, or that waits, is not served as the database
        # says even when Caddy runs exactly what could be applied.
        not_live = [s.host for s in comparison.specs if comparison.verdict(s) != "live"]
        self._print_node(node, comparison.in_step and not not_live)
        for spec in comparison.specs:
            self._print_site(spec, comparison)
        for route_id in comparison.unknown_routes():
            self.stdout.write(f"{route_id}: served by Caddy but not in the database")

        if not comparison.in_step:
            raise CommandError("Caddy does not match the database; run caddy_sync")
        if not_live:
            raise CommandError(
                f"{len(not_live)} site(s) not live: {', '.join(not_live[:10])}"
                f"{' ...' if len(not_live) > 10 else ''}; see their errors above"
            )

    def _print_node(self, node, in_step):
        verdict = "matches the database" if in_step else "DIFFERS from the database"
        self.stdout.write(
            f"node {node.name} ({node.admin_url}): {verdict}; last sync "
            f"{node.last_result or 'never'} at {node.last_attempt_at or '-'}"
        )

    def _print_site(self, spec, comparison):
        word = comparison.verdict(spec)
        state = comparison.states[spec.pk]
        line = f"{spec.host:<40} {spec.status:<12} {word:<8} (caddy {state})"
        row = comparison.rows[spec.pk]
        reason = comparison.rendered.refused.get(spec.pk) or row.sync_error
        self.stdout.write(f"{line}  {reason}" if reason else line)
