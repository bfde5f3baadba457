"""Accounts and clients for the API tests: anonymous, read-only, staff."""

from django.contrib.auth.models import Group, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def token_client(user=None):
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def staff_user(name="admin"):
    return User.objects.create_user(name, password="x-unused-x", is_staff=True)


def operator_user(name="reader"):
    user = User.objects.create_user(name, password="x-unused-x")
    group, _ = Group.objects.get_or_create(name="operators")
    user.groups.add(group)
    return user


def forget_throttles():
    # Throttle counters live in the cache, which outlives a test.
    cache.clear()
