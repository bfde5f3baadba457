"""Apply a plan to one Caddy node: the admin-API side of a sync.

Reads the live config and its ETag, replaces the whole config when it
differs, and when Caddy refuses the document finds the refused sites (see
isolate.py) so everything else still goes live.
"""

import hashlib
import logging
from dataclasses import dataclass, field

from site_management.caddy.client import CaddyRejected, ConfigChanged, canonical
from site_management.caddy.isolate import Isolation
from site_management.caddy.render import render
from site_management.models import SyncAttempt

log = logging.getLogger("site_management.caddy.apply")
Result = SyncAttempt.Result
CONFLICT_ATTEMPTS = 3


@dataclass
class Plan:
    """What a sync wants a node to run.

    `stable` sites are live and unchanged; `changed` ones wait to be applied;
    `held` sites were refused by Caddy as they are now and are not tried
    again until they change; `previous` has the last accepted version of
    changed and held sites, served meanwhile.
    """

    options: object
    stable: list
    changed: list
    held: list
    previous: dict

    def desired(self):
        return self.compose(self.changed)

    def compose(self, chosen):
        chosen_pks = {spec.pk for spec in chosen}
        kept = [spec for pk, spec in self.previous.items() if pk not in chosen_pks]
        return self.stable + kept + list(chosen)


@dataclass
class Applied:
    result: str
    specs: list
    config_hash: str = ""
    etag: str = ""
    error: str = ""
    refused: dict = field(default_factory=dict)
    drift: bool = False
    live_before: dict = None


class NodeApplier:
    def __init__(self, client, last_hash, desired=None, desired_specs=()):
        self.client = client
        self.last_hash = last_hash
        # The sync has rendered every site already; the first attempt is
        # nearly always exactly those sites, so keep that render.
        self._renders = {}
        if desired is not None:
            rendered_specs = [s for s in desired_specs if s.pk not in desired.refused]
            self._renders[frozenset(rendered_specs)] = desired
        self.drift = False
        self.live_before = None
        self.wrote = False
        self.live_hash = ""
        self.etag = None

    def apply(self, plan):
        """Bring the node to the plan; CaddyUnreachable propagates."""
        specs = plan.desired()
        error = self._replace(specs, plan.options)
        if error is None:
            return self._done(specs)

        isolation = Isolation(
            lambda chosen: self._replace(chosen, plan.options),
            plan.stable,
            plan.previous,
        )
        base_error = isolation.run(plan.changed)
        if base_error is not None:
            return self.failed(Result.REJECTED, base_error)
        log.info(
            "isolated refused sites count=%s attempts=%s",
            len(isolation.refused),
            isolation.attempts,
        )
        return self._done(isolation.final_specs(), isolation.refused)

    def failed(self, result, error):
        return Applied(
            result, [], error=error, drift=self.drift, live_before=self.live_before
        )

    def _done(self, specs, refused=None):
        result = Result.APPLIED if self.wrote else Result.UNCHANGED
        etag = self.etag or self.client.get_config()[1]
        return Applied(
            result,
            specs,
            config_hash=self.live_hash,
            etag=etag,
            refused=refused or {},
            drift=self.drift,
            live_before=self.live_before,
        )

    def _replace(self, specs, options):
        """Make the node run exactly `specs`; None, or Caddy's refusal."""
        rendered = self._renders.get(frozenset(specs)) or render(specs, options)
        for _ in range(CONFLICT_ATTEMPTS):
            live, etag = self.client.get_config()
            self._notice_drift(live)
            if live == rendered.config:
                self.live_hash, self.etag = rendered.hash, etag
                return None
            try:
                self.client.replace_config(rendered.body, etag)
            except ConfigChanged:
                log.info("config changed between read and write; reading again")
                continue
            except CaddyRejected as refusal:
                return str(refusal)
            self.wrote, self.live_hash, self.etag = True, rendered.hash, None
            return None
        raise ConfigChanged("Caddy's config kept changing while it was replaced")

    def _notice_drift(self, live):
        """The first read of a sync tells whether the node runs something other
        than what was last applied to it (an edit by hand, a restart without
        the config). Content is compared, not the ETag: a Caddy restarted
        with the same config has not drifted."""
        if self.live_before is not None:
            return
        self.live_before = live or {}
        live_hash = hashlib.sha256(canonical(live)).hexdigest()
        self.drift = bool(self.last_hash) and live_hash != self.last_hash
