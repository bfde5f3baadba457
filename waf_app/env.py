"""Strict readers for settings that come from the environment.

Every reader raises ImproperlyConfigured naming the variable, so a typo in a
deployment stops the start instead of running with a surprising default.
"""

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _raw(name, default):
    value = os.environ.get(name)
    return default if value is None else value.strip()


def text(name, default=""):
    return _raw(name, default)


def boolean(name, default=False):
    value = _raw(name, None)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def integer(name, default, minimum=None, maximum=None):
    value = _raw(name, None)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or (
        maximum is not None and number > maximum
    ):
        raise ImproperlyConfigured(
            f"{name}={value!r} is out of range ({minimum} to {maximum})"
        )
    return number


def choice(name, default, choices):
    value = _raw(name, default).lower()
    if value not in choices:
        allowed = ", ".join(sorted(choices))
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {allowed}")
    return value


def admin_url(name, default):
    """The URL of a Caddy admin endpoint: http on a loopback host, with a port."""
    value = _raw(name, default).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        raise ImproperlyConfigured(
            f"{name}={value!r} must look like http://127.0.0.1:2019"
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port or parts.path or parts.query:
        raise ImproperlyConfigured(
            f"{name}={value!r} must be http://host:port with nothing after the port"
        )
    if not _is_loopback(parts.hostname):
        # The rendered config makes Caddy listen for its admin API right
        # there, and that API can rewrite everything Caddy serves.
        raise ImproperlyConfigured(
            f"{name}={value!r} must be on loopback (127.0.0.1, ::1 or localhost)"
        )
    return value


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def path(name, default):
    value = _raw(name, str(default))
    if not value:
        raise ImproperlyConfigured(f"{name} is set but empty")
    return os.path.abspath(os.path.expanduser(value))


def secret_from_file(file):
    """A secret kept in the state folder, made on first use, readable only by
    the owner; so a fresh checkout runs without anyone inventing a key."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return file.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    return file.read_text().strip()


def web_url(name, default=""):
    value = _raw(name, default)
    if value and urlsplit(value).scheme not in ("http", "https"):
        raise ImproperlyConfigured(f"{name}={value!r} must be an http(s) URL")
    return value


def email_list(name):
    addresses = [part.strip() for part in _raw(name, "").split(",") if part.strip()]
    for address in addresses:
        if "@" not in address or " " in address:
            raise ImproperlyConfigured(f"{name}: {address!r} is not an email address")
    return addresses


def load_file(file):
    """Read KEY=VALUE lines from `file` into the environment, without
    overriding what the environment already says. A missing file is fine."""
    file = Path(file)
    if not file.is_file():
        return
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip().isidentifier():
            raise ImproperlyConfigured(f"{file}, line {number}: expected NAME=value")
        os.environ.setdefault(name.strip(), value.strip())


def ip_literal(name, default=""):
    """An IP address to bind to, or empty for every interface."""
    value = _raw(name, default)
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}={value!r} is not an IP address (leave it empty for all)"
            ) from None
    return value


def redis_url(name):
    value = _raw(name, "")
    if value and urlsplit(value).scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"{name}={value!r} must be a redis:// URL")
    return value


RATE_PERIODS = ("second", "minute", "hour", "day")


def rate(name, default):
    """A throttle rate such as `30/minute`, in the form REST framework reads."""
    value = _raw(name, default)
    count, slash, period = value.partition("/")
    if not (slash and count.isdigit() and int(count) > 0 and period in RATE_PERIODS):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate like 30/minute "
            f"(period: {', '.join(RATE_PERIODS)})"
        )
    return value


def origin_list(name):
    """Comma-separated origins such as https://admin.example.com."""
    origins = [part.strip() for part in _raw(name, "").split(",") if part.strip()]
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin like https://host[:port]"
            )
    return origins
