"""Read the database into the plain values the renderer takes."""

from urllib.parse import urlsplit

from django.conf import settings

from site_management import certificates
from site_management.caddy import certfiles
from site_management.caddy.render import RenderOptions, SiteSpec
from site_management.models import Site


def load_site_specs():
    """Every site as a SiteSpec, and the rows they were read from by pk."""
    specs, rows, problems = [], {}, {}
    sites = Site.objects.prefetch_related("addresses").order_by("pk")
    sites = sites.select_related("certificate")
    for site in sites:
        upstreams = tuple(sorted(a.ip_address for a in site.addresses.all()))
        specs.append(
            SiteSpec(
                pk=site.pk,
                host=site.host,
                protocol=site.protocol,
                auto_ssl=site.auto_ssl,
                status=site.status,
                upstreams=upstreams,
                **_certificate_fields(site.certificate, problems),
            )
        )
        rows[site.pk] = site
    return specs, rows


def _certificate_fields(certificate, problems):
    if certificate is None or not certificate.fingerprint_sha256:
        return {}
    if certificate.pk not in problems:  # many sites may share one certificate
        problems[certificate.pk] = certificates.stored_problem(
            certificate.certificate,
            certificate.private_key,
            certificate.fingerprint_sha256,
        )
    problem = problems[certificate.pk]
    if problem:
        reason = (
            f"certificate {certificate.name} is unusable: {problem}; upload it again"
        )
        return {"certificate_error": reason}
    cert_file, key_file = certfiles.paths(certificate.fingerprint_sha256)
    return {
        "certificate": certificate.fingerprint_sha256,
        "certificate_file": cert_file,
        "key_file": key_file,
    }


def admin_listen(api_url):
    """Where the rendered config keeps Caddy's admin endpoint: exactly where
    the control plane reaches it, or the next load would cut us off."""
    parts = urlsplit(api_url)
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}"


def render_options():
    return RenderOptions(
        admin_listen=admin_listen(settings.CADDY_API_URL),
        http_port=settings.CADDY_HTTP_PORT,
        https_port=settings.CADDY_HTTPS_PORT,
        bind=settings.CADDY_BIND,
        tls_issuer=settings.CADDY_TLS_ISSUER,
    )
