"""Every API error is JSON naming the field and the reason."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import JsonResponse
from django.views import defaults
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


def as_field_errors(error):
    """A model's ValidationError as REST framework's {field: [reasons]}."""
    if not hasattr(error, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
    detail = {}
    for field, errors in error.message_dict.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        detail.setdefault(key, []).extend(errors)
    return detail


def json_errors(exc, context):
    if isinstance(exc, ModelValidationError):
        exc = serializers.ValidationError(as_field_errors(exc))
    response = exception_handler(exc, context)

    # A filter's or parser's bare list of reasons becomes an object too, so
    # every error body has one shape.
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": " ".join(str(reason) for reason in response.data)}
    return response


def not_found(request, exception=None):
    """JSON for an /api/ address that matches no endpoint; HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "No such endpoint or object."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Internal error; it has been logged."}, status=500
        )
    return defaults.server_error(request)
