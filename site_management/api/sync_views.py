"""The sync seen from the API: its state, history, a manual run, and a
preview of what the next run would change."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework import viewsets
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from site_management import overview
from site_management.api import serializers as api
from site_management.caddy import preview
from site_management.caddy.client import CaddyError
from site_management.caddy.sync import default_node
from site_management.models import CaddyNode, SyncAttempt


class CaddyUnreachable(APIException):
    status_code = http.HTTP_502_BAD_GATEWAY
    default_detail = "Caddy's admin API could not be read."
    default_code = "caddy_unreachable"


class SyncBusy(APIException):
    status_code = http.HTTP_409_CONFLICT
    default_detail = "Another sync holds the node; try again shortly."
    default_code = "sync_busy"


class NodeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = CaddyNode.objects.all()
    serializer_class = api.NodeSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "last_attempt_at"]


class SyncHistoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SyncAttempt.objects.select_related("node")
    serializer_class = api.SyncAttemptSerializer
    filterset_fields = ["result", "drift", "node"]
    search_fields = ["trigger", "error"]
    ordering_fields = ["started_at", "duration_ms"]


class SyncView(APIView):
    """GET: sites per sync state and each node's last outcome.
    POST: apply the database to Caddy now and report the outcome."""

    throttle_scope = "sync"

    @extend_schema(responses=api.SyncStateSerializer)
    def get(self, request):
        state = {"sites": overview.state_counts(), "nodes": overview.nodes()}
        return Response(api.SyncStateSerializer(state).data)

    @extend_schema(
        request=None,
        responses={
            200: api.SyncNowSerializer,
            502: OpenApiResponse(
                api.SyncNowSerializer, description="Caddy did not take the config."
            ),
            409: OpenApiResponse(description="Another sync holds the node."),
        },
    )
    def post(self, request):
        try:
            outcomes = overview.sync_now(request.user.get_username())
        except overview.LeaseBusy as busy:
            raise SyncBusy(str(busy)) from None

        body = {
            "ok": all(outcome.ok for outcome in outcomes),
            "outcomes": [_outcome(outcome) for outcome in outcomes],
        }
        code = http.HTTP_200_OK if body["ok"] else http.HTTP_502_BAD_GATEWAY
        return Response(api.SyncNowSerializer(body).data, status=code)

    def get_throttles(self):
        # Only the manual run is scarce; reading the state is not.
        throttles = super().get_throttles()
        if self.request.method == "POST":
            return throttles
        return [t for t in throttles if not isinstance(t, ScopedRateThrottle)]


def _outcome(outcome):
    return {
        "node": outcome.node,
        "result": outcome.result,
        "ok": outcome.ok,
        "config_hash": outcome.config_hash,
        "drift": outcome.drift,
        "error": outcome.problem,
        "refused": outcome.refused,
    }


class RenderedConfigView(APIView):
    """The complete Caddy config the database renders to now."""

    @extend_schema(responses=api.RenderedConfigSerializer)
    def get(self, request):
        specs, _, rendered = preview.render_now()
        hosts = {spec.pk: spec.host for spec in specs}
        body = {
            "config_hash": rendered.hash,
            "config": rendered.config,
            "refused": {hosts[pk]: why for pk, why in rendered.refused.items()},
        }
        return Response(api.RenderedConfigSerializer(body).data)


class ConfigDiffView(APIView):
    """What the next sync would change on the node, read from Caddy now."""

    @extend_schema(
        responses={
            200: api.ConfigDiffSerializer,
            502: OpenApiResponse(description="Caddy's admin API could not be read."),
        }
    )
    def get(self, request):
        node = default_node()
        try:
            comparison = preview.compare(node)
        except CaddyError as error:
            raise CaddyUnreachable(
                f"cannot read Caddy's config at {node.admin_url}: {error}"
            ) from None

        body = {
            "node": node.name,
            "in_step": comparison.in_step,
            "patch": comparison.patch(),
            "sites": [_site_diff(spec, comparison) for spec in comparison.specs],
            "unknown_routes": comparison.unknown_routes(),
        }
        return Response(api.ConfigDiffSerializer(body).data)


def _site_diff(spec, comparison):
    return {
        "id": spec.pk,
        "host": spec.host,
        "sync_status": comparison.rows[spec.pk].sync_status,
        "caddy": comparison.states[spec.pk],
        "verdict": comparison.verdict(spec),
    }
