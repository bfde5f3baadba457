"""What a sync would do, without doing it: the render and its difference
from what a Caddy node runs now."""

from dataclasses import dataclass

import jsonpatch
from django.conf import settings

from site_management.caddy import status
from site_management.caddy.client import CaddyClient
from site_management.caddy.render import render
from site_management.caddy.specs import load_site_specs, render_options


@dataclass
class Comparison:
    specs: list
    rows: dict
    rendered: object
    live: dict
    states: dict

    @property
    def in_step(self):
        # The whole config, not only the sites' routes: a route left for a
        # site the database no longer has is a difference too.
        return self.live == self.rendered.config

    def patch(self):
        """RFC 6902 operations that turn the live config into the render."""
        return jsonpatch.make_patch(self.live or {}, self.rendered.config).patch

    def unknown_routes(self):
        return status.unknown_routes(self.live, self.specs)

    def verdict(self, spec):
        return status.verdict(self.rows[spec.pk].sync_status, self.states[spec.pk])


def render_now():
    """(specs, site rows by pk, Rendered) for the database as it is now."""
    specs, rows = load_site_specs()
    return specs, rows, render(specs, render_options())


def compare(node):
    """Read the node's live config and compare it with the render, site by
    site. Raises CaddyError when the node cannot be read."""
    specs, rows = load_site_specs()
    options = render_options()
    rendered = render(specs, options)
    live, _ = CaddyClient(node.admin_url, settings.CADDY_TIMEOUT_SECONDS).get_config()
    states = status.compare_sites(live, rendered, specs, options)
    return Comparison(specs, rows, rendered, live, states)
