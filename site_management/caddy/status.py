"""Compare what Caddy runs with what the database says, site by site."""

from site_management.caddy.render import site_routes

MATCHES = "matches"
DIFFERS = "differs"
MISSING = "missing"
KEPT = "keeps an older version"
NOT_SERVED = "not served"


def live_site_routes(config):
    """Every route carrying a `site-...` id in a live config, by id."""
    found = {}
    servers = (config or {}).get("apps", {}).get("http", {}).get("servers", {})
    stack = [route for server in servers.values() for route in server.get("routes", [])]
    while stack:
        route = stack.pop()
        route_id = route.get("@id", "")
        if route_id.startswith("site-"):
            found[route_id] = route
        for handler in route.get("handle", []):
            stack.extend(handler.get("routes", []))
    return found


def compare_sites(live_config, rendered, specs, options):
    """Per site pk: whether Caddy serves exactly what the database says."""
    live = live_site_routes(live_config)
    states = {}
    for spec in specs:
        if spec.pk in rendered.refused:
            states[spec.pk] = KEPT if _has_routes(live, spec) else NOT_SERVED
            continue
        wanted = {} if spec.status == "inactive" else site_routes(spec, options)
        wanted_by_id = {route["@id"]: route for route in wanted.values()}
        have = {key: route for key, route in live.items() if _belongs(key, spec)}
        if have == wanted_by_id:
            states[spec.pk] = MATCHES
        else:
            states[spec.pk] = MISSING if not have and wanted_by_id else DIFFERS
    return states


def unknown_routes(live_config, specs):
    """Ids of site routes Caddy serves that belong to no site in the database."""
    known = {f"site-{spec.pk}" for spec in specs}
    return sorted(
        key
        for key in live_site_routes(live_config)
        if key.split("-redirect")[0] not in known
    )


def _belongs(route_id, spec):
    return route_id in (f"site-{spec.pk}", f"site-{spec.pk}-redirect")


def _has_routes(live, spec):
    return any(_belongs(key, spec) for key in live)


def verdict(sync_status, caddy_state):
    """One word per site for operators: live, pending, failed or drifted.

    A row that says live while Caddy serves something else has drifted:
    someone edited Caddy, or it restarted without its config.
    """
    if sync_status == "live" and caddy_state not in (MATCHES, NOT_SERVED):
        return "drifted"
    return sync_status
