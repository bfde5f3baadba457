"""Every API error is JSON naming the field and the reason."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as ModelValidationError
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
    return exception_handler(exc, context)
