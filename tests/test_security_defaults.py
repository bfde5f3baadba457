"""Security defaults of the API and the admin login: throttling, lockout after
repeated failed logins, and the usual headers."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from tests.api_support import forget_throttles, operator_user, token_client


@pytest.fixture(autouse=True)
def fresh_throttles():
    forget_throttles()


def test_anonymous_api_requests_are_throttled(db, settings):
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"]
    allowed = int(rate.split("/")[0])
    client = token_client()

    codes = [client.get("/api/sites/").status_code for _ in range(allowed + 1)]

    assert codes[:allowed] == [401] * allowed
    assert codes[-1] == 429
    assert "Retry-After" in client.get("/api/sites/")


def test_guessing_tokens_is_throttled_too(db, settings):
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"]
    allowed = int(rate.split("/")[0])
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION="Token guessed-wrong")

    codes = [client.get("/api/sites/").status_code for _ in range(allowed + 1)]

    assert codes == [401] * allowed + [429]


def test_repeated_failed_admin_logins_lock_the_account_out(db, client, settings):
    User.objects.create_superuser("boss", password="right-password")
    login = "/admin/login/?next=/admin/"
    codes = [
        client.post(login, {"username": "boss", "password": "wrong"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    # The form again with its error, until the failure that reaches the limit.
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]

    right = client.post(login, {"username": "boss", "password": "right-password"})

    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_good_login_still_works_below_the_limit(db, client):
    User.objects.create_superuser("boss", password="right-password")
    client.post("/admin/login/", {"username": "boss", "password": "wrong"})

    right = client.post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": "right-password"}
    )

    assert right.status_code == 302
    assert client.session["_auth_user_id"]


def test_responses_carry_the_protective_headers(db):
    response = token_client(operator_user()).get("/api/sites/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_deploy_check_finds_cookies_and_csrf_safe_by_default(tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "SECURE_COOKIES", "DATABASE_URL")
    }
    environment.update(WAF_ENV_FILE="", WAF_STATE_DIR=str(tmp_path))

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    report = result.stdout + result.stderr
    # W012/W016: session and CSRF cookies without Secure; W019: framing.
    for warning in ("security.W012", "security.W016", "security.W019"):
        assert warning not in report, report
