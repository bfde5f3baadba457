from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from site_management.models import Certificate


class Command(BaseCommand):
    help = (
        "List uploaded certificates by days left, with their names, fingerprint "
        "and sites; non-zero exit when one that a site uses is expired or within "
        "CADDY_CERT_WARN_DAYS of expiry."
    )

    def handle(self, *args, **options):
        warn_days = settings.CADDY_CERT_WARN_DAYS
        limit = timezone.now() + timedelta(days=warn_days)
        troubled = []
        certificates = Certificate.objects.prefetch_related("sites").order_by(
            "not_after", "name"
        )
        for cert in certificates:
            self._print(cert)
            near_end = cert.not_after is None or cert.not_after <= limit
            if near_end and cert.sites.all():
                troubled.append(cert.name)
        if not troubled:
            return
        raise CommandError(
            f"{len(troubled)} certificate(s) expired or expiring within "
            f"{warn_days} days: {', '.join(troubled)}"
        )

    def _print(self, cert):
        days = cert.days_left
        left = f"{days} day{'s' * (days != 1)} left"
        if days is None or days < 0:
            left = "expired" if days is not None else "validity unknown"
        sites = ", ".join(site.host for site in cert.sites.all()) or "no site"
        self.stdout.write(
            f"{cert.name}: {', '.join(cert.names)}  {left}  "
            f"sha256 {cert.fingerprint_sha256}  sites: {sites}"
        )
