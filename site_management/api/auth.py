"""Requests without valid credentials are rate limited before they are
refused, so neither tokens nor the API's shape can be probed at speed.

REST framework checks throttles only after authentication and permissions
have passed; a request that fails either would never be counted.
"""

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle


class GuestThrottle(SimpleRateThrottle):
    """Counts requests by client address under the `anon` rate."""

    scope = "anon"

    def get_cache_key(self, request, view):
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


def count_guest_request(request, view=None):
    throttle = GuestThrottle()
    if not throttle.allow_request(request, view):
        raise Throttled(wait=throttle.wait())


class GuardedTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            count_guest_request(request)
            raise
