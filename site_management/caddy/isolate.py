"""Find the sites whose config Caddy refuses, so the others still go live.

Caddy validates the whole document and names only a route index, so the
culprits are found by halving: apply the known-good sites with half of the
changed ones; a half that Caddy takes is kept, a half it refuses is split
again, down to single sites. A refused site keeps its last good version, if
it ever had one, and its new version waits for a fix.
"""

import logging

from site_management.caddy.render import SiteSpec

log = logging.getLogger("site_management.caddy.isolate")


def spec_from_json(data):
    return SiteSpec(**{**data, "upstreams": tuple(data.get("upstreams", ()))})


def spec_to_json(spec):
    return {**spec.__dict__, "upstreams": list(spec.upstreams)}


class Isolation:
    """Bisect `changed` specs against Caddy through `attempt`.

    `attempt(specs)` applies exactly those sites and returns None when Caddy
    took them, or Caddy's error message. `previous` maps a site pk to the
    spec Caddy last accepted for it; `stable` are sites that did not change.
    """

    def __init__(self, attempt, stable, previous):
        self.attempt = attempt
        self.stable = list(stable)
        self.previous = dict(previous)
        self.accepted = []
        self.refused = {}
        self.attempts = 0

    def run(self, changed):
        """Return None when a usable config went live, else the base's error."""
        error = self._try([])
        if error is not None:
            return error
        self._bisect(list(changed))
        return None

    def _bisect(self, suspects):
        if not suspects:
            return
        error = self._try(suspects)
        if error is None:
            self.accepted += suspects
            return
        if len(suspects) == 1:
            spec = suspects[0]
            log.warning("caddy refuses site host=%s error=%s", spec.host, error)
            self.refused[spec.pk] = error
            return
        middle = len(suspects) // 2
        self._bisect(suspects[:middle])
        self._bisect(suspects[middle:])

    def _try(self, extra):
        self.attempts += 1
        return self.attempt(self._compose(self.accepted + extra))

    def final_specs(self):
        """What Caddy runs after `run`: every failed try left the last
        accepted composition in place."""
        return self._compose(self.accepted)

    def _compose(self, chosen_specs):
        chosen = {spec.pk for spec in chosen_specs}
        fallbacks = [spec for pk, spec in self.previous.items() if pk not in chosen]
        return self.stable + fallbacks + list(chosen_specs)
