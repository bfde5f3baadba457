# Sourced by the test script: the browser test drives Debian's chromium
# through playwright, which never downloads a browser of its own; install it
# when the machine lacks it.
if ! command -v chromium >/dev/null 2>&1; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "chromium is missing and this is neither root nor has sudo:" \
                "install Debian's chromium (apt-get install chromium)" >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    echo "== installing Debian's chromium for the browser test"
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
