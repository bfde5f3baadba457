#!/usr/bin/env bash
# Runs the whole product on this machine: Caddy, the admin, the sync.
# SQLite under ./state and no broker; every setting can be overridden from
# the environment (see README.md).
EXTRAS="" source "$(dirname "$0")/setup-venv.sh"

export CADDY_API_URL=${CADDY_API_URL:-http://127.0.0.1:2019}
export CADDY_HTTP_PORT=${CADDY_HTTP_PORT:-8080}
export CADDY_HTTPS_PORT=${CADDY_HTTPS_PORT:-8443}
export CADDY_TLS_ISSUER=${CADDY_TLS_ISSUER:-internal}
# The admin is served over plain http on loopback here.
export SECURE_COOKIES=${SECURE_COOKIES:-false}
ADMIN_ADDRESS=${ADMIN_ADDRESS:-127.0.0.1:8000}

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py bootstrap_admin
echo "admin: http://$ADMIN_ADDRESS/admin/"
exec .venv/bin/python manage.py serve "$ADMIN_ADDRESS"
