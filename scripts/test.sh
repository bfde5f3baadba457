#!/usr/bin/env bash
# Runs the whole test suite against a real Caddy and real upstreams, on SQLite
# and then on PostgreSQL. Extra arguments go to pytest.
EXTRAS="test" source "$(dirname "$0")/setup-venv.sh"
source scripts/ensure-chromium.sh

# The tests start their own Caddy; the local settings of run.sh stay out.
export WAF_ENV_FILE=""

POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== tests on SQLite"
env -u DATABASE_URL .venv/bin/pytest "$@"

if [ "${SKIP_POSTGRES:-}" = "1" ]; then
    echo "== PostgreSQL skipped (SKIP_POSTGRES=1)"
    exit 0
fi
echo "== tests on PostgreSQL ($POSTGRES_URL)"
DATABASE_URL="$POSTGRES_URL" .venv/bin/pytest "$@"
