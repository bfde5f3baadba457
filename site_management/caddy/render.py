"""Rows in, Caddy JSON out: the whole config as a pure function of the sites.

The same sites always give the same bytes, so a hash of the bytes tells
whether Caddy already runs them. Nothing here touches the database or the
network; `specs.py` turns rows into the `SiteSpec` values this module takes.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from site_management.validators import (
    normalize_host,
    normalize_upstream,
    refuse_caddy_itself,
    refuse_machine_host,
)

HOSTS_PER_ROUTE = 100
NOT_FOUND_BODY = (
    "<!doctype html><title>404 Not Found</title>"
    "<h1>404 Not Found</h1><p>No site is served at this address.</p>\n"
)
MAINTENANCE_BODY = (
    "<!doctype html><title>503 Under maintenance</title>"
    "<h1>Under maintenance</h1><p>This site is down for maintenance. "
    "Please try again later.</p>\n"
)
NO_UPSTREAM_BODY = (
    "<!doctype html><title>502 Bad Gateway</title>"
    "<h1>502 Bad Gateway</h1><p>This site has no upstream address.</p>\n"
)
HTML = {"Content-Type": ["text/html; charset=utf-8"]}


@dataclass(frozen=True)
class SiteSpec:
    pk: int
    host: str
    protocol: str
    auto_ssl: bool
    status: str
    upstreams: tuple[str, ...] = ()
    # An uploaded certificate: its SHA-256 fingerprint and the files the
    # sync wrote for it. Empty when the site has none.
    certificate: str = ""
    certificate_file: str = ""
    key_file: str = ""
    # Why the site's stored certificate cannot be served; the site is refused.
    certificate_error: str = ""


@dataclass(frozen=True)
class RenderOptions:
    admin_listen: str
    http_port: int = 80
    https_port: int = 443
    bind: str = ""
    tls_issuer: str = "acme"


@dataclass
class Rendered:
    config: dict
    body: bytes
    hash: str
    site_hashes: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)


def site_route_id(spec):
    return f"site-{spec.pk}"


def _static(status, body, headers=None):
    handler = {"handler": "static_response", "status_code": status, "body": body}
    handler["headers"] = {**HTML, **(headers or {})}
    return handler


def _proxy(upstreams):
    if not upstreams:
        return _static(502, NO_UPSTREAM_BODY)
    handler = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": upstream} for upstream in sorted(upstreams)],
        "transport": {"protocol": "http", "dial_timeout": "5s"},
    }
    if len(upstreams) > 1:
        # Round robin spreads load evenly; a retry sends the request to the
        # next upstream when one is down, and the passive check keeps a
        # failing upstream out of rotation for a while.
        handler["load_balancing"] = {
            "selection_policy": {"policy": "round_robin"},
            "retries": len(upstreams) - 1,
        }
        handler["health_checks"] = {"passive": {"fail_duration": "10s", "max_fails": 1}}
    return handler


def _site_handler(spec):
    if spec.status == "maintenance":
        return _static(503, MAINTENANCE_BODY, {"Retry-After": ["300"]})
    return _proxy(spec.upstreams)


def _redirect(options):
    port = "" if options.https_port == 443 else f":{options.https_port}"
    location = f"https://{{http.request.host}}{port}{{http.request.uri}}"
    return {
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [location]},
    }


def _route(route_id, host, handler):
    return {
        "@id": route_id,
        "match": [{"host": [host]}],
        "handle": [handler],
        "terminal": True,
    }


def site_routes(spec, options):
    """The routes a served site adds to the http and https servers."""
    if spec.protocol == "http":
        return {"http": _route(site_route_id(spec), spec.host, _site_handler(spec))}
    return {
        "http": _route(
            f"{site_route_id(spec)}-redirect", spec.host, _redirect(options)
        ),
        "https": _route(site_route_id(spec), spec.host, _site_handler(spec)),
    }


def check_upstream_is_not_caddy(upstream, options):
    """Refuse an upstream that is this Caddy's admin API or site ports."""
    admin_port = int(options.admin_listen.rpartition(":")[2])
    site_ports = {options.http_port, options.https_port}
    refuse_caddy_itself(upstream, admin_port, site_ports, options.bind)


def check_spec(spec, options):
    """Re-check a row before it reaches Caddy; rows written around the model
    (raw SQL, an older version, changed ports) must not smuggle braces or
    ports into the JSON, nor point a site back into Caddy."""
    if spec.certificate_error:
        raise ValidationError(spec.certificate_error)
    if normalize_host(spec.host) != spec.host:
        raise ValidationError(f"host {spec.host!r} is not in its normalised form")
    refuse_machine_host(spec.host)
    for upstream in spec.upstreams:
        if normalize_upstream(upstream) != upstream:
            raise ValidationError(f"upstream {upstream!r} is not normalised")
        check_upstream_is_not_caddy(upstream, options)
    if spec.protocol not in ("http", "https"):
        raise ValidationError(f"protocol {spec.protocol!r} is unknown")
    if spec.status not in ("active", "inactive", "maintenance"):
        raise ValidationError(f"status {spec.status!r} is unknown")
    if spec.protocol == "https" and not (spec.auto_ssl or spec.certificate):
        raise ValidationError("https without auto_ssl needs an uploaded certificate")
    if spec.certificate and not re.fullmatch(r"[0-9a-f]{64}", spec.certificate):
        raise ValidationError("the certificate fingerprint is not SHA-256 hex")
    for path in (spec.certificate_file, spec.key_file) if spec.certificate else ():
        if not path.startswith("/") or "{" in path or "}" in path:
            raise ValidationError(f"certificate file {path!r} is not a plain path")


def _route_order(route):
    return _host_order(route["match"][0]["host"][0])


def _host_order(host):
    # Exact hosts before wildcards, and longer wildcards before shorter ones,
    # so that a.example.com wins over *.example.com whatever the ids are.
    if host.startswith("*."):
        return (1, -host.count("."), host)
    return (0, 0, host)


def _grouped(routes):
    """Put up to HOSTS_PER_ROUTE site routes behind one host matcher: Caddy
    looks hosts up in a matcher quickly, while it tries routes one by one."""
    ordered = sorted(routes, key=_route_order)
    groups = []
    for start in range(0, len(ordered), HOSTS_PER_ROUTE):
        chunk = ordered[start : start + HOSTS_PER_ROUTE]
        hosts = [route["match"][0]["host"][0] for route in chunk]
        groups.append(
            {
                "match": [{"host": hosts}],
                "handle": [{"handler": "subroute", "routes": chunk}],
                "terminal": True,
            }
        )
    return groups


def _not_found(server):
    return {"@id": f"{server}-not-found", "handle": [_static(404, NOT_FOUND_BODY)]}


def _listen(options, port):
    bind = options.bind
    if ":" in bind:
        bind = f"[{bind}]"
    return [f"{bind}:{port}"]


def _servers(http_routes, https_routes, cert_specs, options):
    servers = {
        "http": {
            "listen": _listen(options, options.http_port),
            "routes": _grouped(http_routes) + [_not_found("http")],
        },
        "https": {
            "listen": _listen(options, options.https_port),
            "routes": _grouped(https_routes) + [_not_found("https")],
            # Redirects are rendered on the http server above, before its
            # catch-all 404; Caddy's own would be appended after it.
            "automatic_https": {"disable_redirects": True},
        },
    }
    if cert_specs:
        https = servers["https"]
        https["tls_connection_policies"] = _connection_policies(cert_specs)
        # Hosts with an uploaded certificate must never go to ACME, even
        # when the loaded certificate is about to expire.
        skipped = sorted({spec.host for spec in cert_specs})
        https["automatic_https"]["skip_certificates"] = skipped
    return servers


def certificate_tag(spec):
    return f"cert-{spec.certificate[:16]}"


def uses_certificate(spec):
    """An https site with an uploaded certificate: served with it, no ACME."""
    return spec.protocol == "https" and bool(spec.certificate)


def _loaded_files(cert_specs):
    files = {
        certificate_tag(spec): {
            "certificate": spec.certificate_file,
            "key": spec.key_file,
            "format": "pem",
            "tags": [certificate_tag(spec)],
        }
        for spec in cert_specs
    }
    return [files[tag] for tag in sorted(files)]


def _connection_policies(cert_specs):
    """One policy per host, exact hosts first, so a host with its own
    certificate never gets the one of a wildcard site above it; the final
    empty policy serves every other host (auto_ssl sites)."""
    policies = [
        {
            "match": {"sni": [spec.host]},
            "certificate_selection": {"any_tag": [certificate_tag(spec)]},
        }
        for spec in sorted(cert_specs, key=lambda spec: _host_order(spec.host))
    ]
    return policies + [{}]


def _tls_app(subjects, cert_specs, options):
    tls = {}
    if subjects:
        issuer = {"module": options.tls_issuer}
        policy = {"subjects": subjects, "issuers": [issuer]}
        tls["automation"] = {"policies": [policy]}
    if cert_specs:
        tls["certificates"] = {"load_files": _loaded_files(cert_specs)}
    return tls or None


def _fingerprint(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _apps(http_routes, https_routes, subjects, cert_specs, options):
    apps = {
        "http": {
            "http_port": options.http_port,
            "https_port": options.https_port,
            "servers": _servers(http_routes, https_routes, cert_specs, options),
        }
    }
    tls = _tls_app(sorted(subjects), cert_specs, options)
    if tls:
        apps["tls"] = tls
    if options.tls_issuer == "internal":
        # Caddy would otherwise try to add its root to the system trust store.
        apps["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
    return apps


def _site_hash(spec, routes):
    parts = [spec.status, routes]
    if uses_certificate(spec) and routes:
        # A new certificate is a change of the site even with the same routes.
        parts += [spec.certificate, spec.certificate_file, spec.key_file]
    return _fingerprint(parts)


def render(specs, options):
    """Render the complete Caddy config for these sites.

    Sites that fail the last check are left out and reported in `refused`, so
    one bad row never stops the others from being served.
    """
    http_routes, https_routes, subjects, cert_specs = [], [], [], []
    site_hashes, refused = {}, {}

    for spec in sorted(specs, key=lambda spec: spec.pk):
        try:
            check_spec(spec, options)
        except ValidationError as error:
            refused[spec.pk] = "; ".join(error.messages)
            continue
        routes = site_routes(spec, options) if spec.status != "inactive" else {}
        site_hashes[spec.pk] = _site_hash(spec, routes)
        http_routes += [routes["http"]] if "http" in routes else []
        https_routes += [routes["https"]] if "https" in routes else []
        if "https" in routes and uses_certificate(spec):
            cert_specs.append(spec)
        elif "https" in routes and spec.auto_ssl:
            subjects.append(spec.host)

    config = {
        "admin": {"listen": options.admin_listen},
        "apps": _apps(http_routes, https_routes, subjects, cert_specs, options),
    }
    body = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(body).hexdigest()
    return Rendered(config, body, digest, site_hashes, refused)
