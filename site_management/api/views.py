"""Sites, certificates, Caddy nodes, the sync history and the audit trail."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action

from site_management.api import serializers as api
from site_management.models import Addresses, Certificate, Site


class HistoryMixin:
    """GET <object>/history/: the audit trail of one object, newest first."""

    @extend_schema(responses=api.AuditRecordSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None):
        records = self.get_object().history.select_related("history_user")
        page = self.paginate_queryset(records)
        return self.get_paginated_response(
            api.AuditRecordSerializer(page, many=True).data
        )


class SiteFilter(filters.FilterSet):
    class Meta:
        model = Site
        fields = ["status", "protocol", "auto_ssl", "sync_status", "certificate"]


class SiteViewSet(HistoryMixin, viewsets.ModelViewSet):
    queryset = Site.objects.select_related("certificate").prefetch_related("addresses")
    serializer_class = api.SiteSerializer
    filterset_class = SiteFilter
    search_fields = ["host", "addresses__ip_address"]
    ordering_fields = ["host", "status", "sync_status", "updated_at", "last_synced_at"]


class CertificateViewSet(HistoryMixin, viewsets.ModelViewSet):
    queryset = Certificate.objects.prefetch_related("sites")
    serializer_class = api.CertificateSerializer
    filterset_fields = ["key_type"]
    search_fields = ["name", "fingerprint_sha256"]
    ordering_fields = ["name", "not_after"]


def audit_viewset(model, label):
    """A read-only list of every recorded change to `model`, deleted rows
    included, newest first."""
    history = model.history.model

    class AuditFilter(filters.FilterSet):
        object_id = filters.NumberFilter(field_name="id")
        user = filters.CharFilter(field_name="history_user__username")
        action = filters.ChoiceFilter(
            field_name="history_type",
            choices=[("+", "created"), ("~", "changed"), ("-", "deleted")],
        )

        class Meta:
            model = history
            fields = ["object_id", "user", "action"]

    return type(
        f"{label}AuditViewSet",
        (viewsets.ReadOnlyModelViewSet,),
        {
            "__doc__": f"The audit trail of {model._meta.verbose_name_plural}.",
            "queryset": history.objects.select_related("history_user"),
            "serializer_class": api.AuditRecordSerializer,
            "filterset_class": AuditFilter,
            "ordering_fields": ["history_date"],
            "search_fields": [],
        },
    )


SiteAuditViewSet = audit_viewset(Site, "Site")
AddressAuditViewSet = audit_viewset(Addresses, "Address")
CertificateAuditViewSet = audit_viewset(Certificate, "Certificate")
