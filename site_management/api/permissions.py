"""Who may use the API: staff write, members of the read group only read."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from site_management.api.auth import count_guest_request


def may_read(user):
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_staff:
        return True
    return user.groups.filter(name=settings.API_READ_GROUP).exists()


class StaffWritesOperatorsRead(BasePermission):
    message = "Reading needs a staff account or the operators group; writing, staff."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            count_guest_request(request, view)
            return False
        if request.method in SAFE_METHODS:
            return may_read(request.user)
        return bool(request.user and request.user.is_active and request.user.is_staff)
