#!/usr/bin/env bash
# Runs the whole product on this machine: Caddy, the admin, the sync.
# SQLite under ./state and no broker. The local choices below are written
# once to state/local.env, which every manage.py command of this checkout
# reads, so a shell or a caddy_sync talks to this Caddy the same way.
EXTRAS="" source "$(dirname "$0")/setup-venv.sh"

STATE_DIR=${WAF_STATE_DIR:-state}
ENV_FILE=${WAF_ENV_FILE-$STATE_DIR/local.env}
if [ -n "$ENV_FILE" ] && [ ! -f "$ENV_FILE" ]; then
    mkdir -p "$(dirname "$ENV_FILE")"
    cat > "$ENV_FILE" <<'SETTINGS'
# Written by scripts/run.sh for local use; edit freely. Variables set in the
# environment take precedence over these.
CADDY_API_URL=http://127.0.0.1:2019
CADDY_HTTP_PORT=8880
CADDY_HTTPS_PORT=8443
CADDY_TLS_ISSUER=internal
# The admin is served over plain http on loopback here.
SECURE_COOKIES=false
SETTINGS
    echo "local settings written to $ENV_FILE"
fi
ADMIN_ADDRESS=${ADMIN_ADDRESS:-127.0.0.1:8000}

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py bootstrap_admin
echo "admin: http://$ADMIN_ADDRESS/admin/"
exec .venv/bin/python manage.py serve "$ADMIN_ADDRESS"
