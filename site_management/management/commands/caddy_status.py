from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from site_management.caddy import status
from site_management.caddy.client import CaddyClient, CaddyError
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options
from site_management.caddy.sync import default_node


class Command(BaseCommand):
    help = "Show, per site, whether what Caddy runs matches the database."

    def handle(self, *args, **options):
        node = default_node()
        specs, rows = load_site_specs()
        render_with = render_options()
        rendered = render(specs, render_with)
        try:
            live, _ = CaddyClient(
                node.admin_url, settings.CADDY_TIMEOUT_SECONDS
            ).get_config()
        except CaddyError as error:
            raise CommandError(
                f"cannot read Caddy's config at {node.admin_url}: {error}"
            ) from None

        states = status.compare_sites(live, rendered, specs, render_with)
        in_step = live == rendered.config
        self._print_node(node, in_step)
        for spec in specs:
            self._print_site(spec, rows[spec.pk], states[spec.pk], rendered)
        for route_id in status.unknown_routes(live, specs):
            self.stdout.write(f"{route_id}: served by Caddy but not in the database")

        # Judge the whole config, not only the sites' routes: a route left
        # for a site the database no longer has is a difference too.
        if not in_step:
            raise CommandError("Caddy does not match the database; run caddy_sync")

    def _print_node(self, node, in_step):
        verdict = "matches the database" if in_step else "DIFFERS from the database"
        self.stdout.write(
            f"node {node.name} ({node.admin_url}): {verdict}; last sync "
            f"{node.last_result or 'never'} at {node.last_attempt_at or '-'}"
        )

    def _print_site(self, spec, row, state, rendered):
        word = status.verdict(row.sync_status, state)
        line = f"{spec.host:<40} {spec.status:<12} {word:<8} (caddy {state})"
        reason = rendered.refused.get(spec.pk) or row.sync_error
        self.stdout.write(f"{line}  {reason}" if reason else line)
