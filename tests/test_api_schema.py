"""The API against its own OpenAPI schema: schemathesis generates requests
(valid and invalid) for every operation and checks that none ends in a
server error or in a response the schema does not describe.

It runs with a real Caddy, since writes and `POST /api/sync/` reach it.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode, checks

from tests.api_support import forget_throttles, staff_user
from waf_app.wsgi import application

pytestmark = [pytest.mark.caddy]
EXAMPLES = 25

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def api_token(caddy, monkeypatch):
    # Throttling is tested on its own; here it would only hide operations
    # behind 429s after the first few hundred requests.
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "100000/minute", "user": "100000/minute", "sync": "100000/minute"},
    )
    forget_throttles()
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=staff_user("schemathesis")).key


@pytest.fixture
def api_schema(api_token):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/", application, headers={"Authorization": f"Token {api_token}"}
    )


# schemathesis' own pytest plugin does not run under pytest 9 yet, so each
# operation gets its own Hypothesis run here, and every failure is reported.
@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_the_api_keeps_to_its_schema(api_schema, api_token, mode):
    headers = {"Authorization": f"Token {api_token}"}
    failures = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            exercise(operation, mode, headers)
        except Unsatisfiable:
            # Nothing to make invalid: the operation takes no input.
            assert mode == GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as error:  # all reported below
            failures[operation.label] = f"{type(error).__name__}: {error}"

    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


def exercise(operation, mode, headers):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
