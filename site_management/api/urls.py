from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import DefaultRouter

from site_management.api import sync_views, views

router = DefaultRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("certificates", views.CertificateViewSet, basename="certificate")
router.register("nodes", sync_views.NodeViewSet, basename="node")
router.register("sync/history", sync_views.SyncHistoryViewSet, basename="sync-history")
router.register("audit/sites", views.SiteAuditViewSet, basename="audit-site")
router.register("audit/addresses", views.AddressAuditViewSet, basename="audit-address")
router.register(
    "audit/certificates", views.CertificateAuditViewSet, basename="audit-certificate"
)

urlpatterns = [
    path("sync/", sync_views.SyncView.as_view(), name="sync"),
    path("sync/config/", sync_views.RenderedConfigView.as_view(), name="sync-config"),
    path("sync/diff/", sync_views.ConfigDiffView.as_view(), name="sync-diff"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include(router.urls)),
]
