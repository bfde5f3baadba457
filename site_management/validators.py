"""Checks for the strings an operator types: site hosts and upstream addresses.

Both end up inside Caddy's JSON config, where braces start placeholders and a
stray slash or port changes what a matcher means, so anything outside plain
host names and host:port pairs is refused with the reason.
"""

import ipaddress
import re

import idna
from django.core.exceptions import ValidationError

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Interface names and numbers only: Caddy expands {placeholders} in a dial
# address, and Python accepts any text after the % of an IPv6 scope.
IPV6_ZONE = re.compile(r"^[A-Za-z0-9_.-]+$")
FORBIDDEN = {
    " ": "spaces",
    "\t": "spaces",
    "/": "slashes",
    "\\": "backslashes",
    ":": "a port (put ports on the upstream addresses)",
    "{": "braces",
    "}": "braces",
    "@": "an @",
    "?": "a question mark",
    "#": "a #",
}


def _refuse(value, reason):
    raise ValidationError(f"{value!r} is not a valid host: {reason}.", code="invalid")


def _check_characters(value):
    for character, name in FORBIDDEN.items():
        if character in value:
            _refuse(value, f"it contains {name}")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        _refuse(value, "it contains control characters")


def _to_ascii(value, name):
    try:
        if not name.isascii():
            return idna.encode(name, uts46=True).decode("ascii")
        # An ASCII 'xn--' label must decode, as a typed Unicode name must encode.
        for label in name.lower().split("."):
            if label.startswith("xn--"):
                idna.decode(label)
        return name.lower()
    except idna.IDNAError as error:
        _refuse(value, f"it is not a valid internationalised name ({error})")


def _check_labels(value, ascii_name):
    for label in ascii_name.split("."):
        if not label:
            _refuse(
                value, "it has an empty label (two dots in a row, or a leading dot)"
            )
        if len(label) > MAX_LABEL_LENGTH:
            _refuse(value, f"the label {label[:20]!r}... is longer than 63 characters")
        if "*" in label:
            _refuse(value, "a wildcard is only allowed as the whole first label, '*.'")
        if label.startswith("-") or label.endswith("-"):
            _refuse(value, f"the label {label!r} starts or ends with a hyphen")
        if not LABEL.match(label):
            _refuse(value, f"the label {label!r} has characters other than a-z, 0-9, -")


def normalize_host(value):
    """Return the host in lower-case ASCII form, or raise ValidationError."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("A host is required.", code="required")

    value = value.strip()
    if "://" in value:
        _refuse(value, "it has a scheme; give the bare host name, e.g. example.com")
    if _is_ipv6(value.removeprefix("[").removesuffix("]")):
        _refuse(value, "it is an IPv6 address; a site needs a host name or IPv4")
    _check_characters(value)
    name = value[:-1] if value.endswith(".") else value

    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    ascii_name = _to_ascii(value, name)
    _check_labels(value, ascii_name)

    last_label = ascii_name.rsplit(".", 1)[-1]
    if last_label.isdigit() and not (_is_ipv4(ascii_name) and not wildcard):
        _refuse(value, "the last label is all digits, and it is not an IPv4 address")

    host = f"*.{ascii_name}" if wildcard else ascii_name
    if len(host) > MAX_HOST_LENGTH:
        _refuse(value, f"it is {len(host)} characters long, the limit is 253")
    return host


def _refuse_address(value, reason):
    raise ValidationError(
        f"{value!r} is not a valid upstream address: {reason}.", code="invalid"
    )


def _split_address(value):
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            _refuse_address(value, "write IPv6 as [address]:port")
        return host, rest[1:], True
    host, colon, port = value.rpartition(":")
    if not colon or not host:
        _refuse_address(value, "it needs the form host:port, e.g. 127.0.0.1:8080")
    if ":" in host:
        _refuse_address(value, "put an IPv6 address in brackets, e.g. [::1]:8080")
    return host, port, False


def _check_port(value, port):
    # isdigit() alone lets through '¹' (int() fails) and other scripts' digits.
    if not (port.isascii() and port.isdigit()):
        _refuse_address(value, f"the port {port!r} is not a number")
    if not 1 <= int(port) <= 65535:
        _refuse_address(value, f"the port {port} is outside 1-65535")
    return int(port)


def _is_ipv6(text):
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def normalize_upstream(value):
    """Return an upstream as host:port ([v6]:port for IPv6), or raise."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("An upstream address is required.", code="required")

    value = value.strip()
    if "://" in value:
        _refuse_address(value, "give host:port without a scheme")
    host, port, bracketed = _split_address(value)
    port = _check_port(value, port)

    if bracketed:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            _refuse_address(value, f"{host!r} is not an IPv6 address")
        if address.scope_id is not None and not IPV6_ZONE.match(address.scope_id):
            _refuse_address(value, f"the zone {address.scope_id!r} is not a name")
        return f"[{address.compressed}]:{port}"
    if _is_ipv4(host):
        return f"{ipaddress.IPv4Address(host)}:{port}"
    try:
        name = normalize_host(host)
    except ValidationError as error:
        _refuse_address(value, error.messages[0].rstrip("."))
    if name.startswith("*."):
        _refuse_address(value, "an upstream cannot be a wildcard")
    return f"{name}:{port}"


def is_local_host(host):
    """True for names and addresses that always mean this machine."""
    host = host.strip("[]").split("%")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback or address.is_unspecified


def refuse_machine_host(host):
    """Refuse a site host that names this machine itself.

    Caddy's admin API answers requests whose Host is localhost or a loopback
    address. A site matching such a Host, proxied to a name that resolves to
    loopback, would hand that API to whoever reaches the site; names below
    localhost (app.localhost) are fine, the admin API refuses them.
    """
    local = host == "localhost"
    if not local and _is_ipv4(host):
        local = is_local_host(host)
    if local:
        _refuse(host, "it names this machine itself; use a name such as app.localhost")


def _same_address(host, bind):
    try:
        return bool(bind) and ipaddress.ip_address(host) == ipaddress.ip_address(bind)
    except ValueError:
        return False


def refuse_caddy_itself(upstream, admin_port, site_ports, bind=""):
    """Refuse a normalised upstream that leads back into this Caddy.

    Proxying a site to Caddy's admin API would let anyone who reaches the
    site rewrite everything Caddy serves; proxying it to Caddy's own site
    ports makes every request loop. A name that merely resolves to this
    machine, or one of its other interface addresses, is not caught here.
    """
    host, _, port = upstream.rpartition(":")
    host, port = host.strip("[]"), int(port)
    if port == admin_port and is_local_host(host):
        _refuse_address(
            upstream,
            "it is Caddy's own admin API, which must never be reachable through a site",
        )
    if port in site_ports and (is_local_host(host) or _same_address(host, bind)):
        _refuse_address(
            upstream, "it is one of Caddy's own site ports, so requests would loop"
        )
