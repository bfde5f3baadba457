"""Tell operators when a node starts failing and when it recovers.

One message when a failure episode begins and one when it ends, never one
per retry: the episode is kept on the node row (`failing_since`), so every
process that syncs agrees on it. A notification that cannot be delivered is
logged; it never fails the sync.
"""

import logging

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

log = logging.getLogger("site_management.caddy.notify")
WEBHOOK_TIMEOUT_SECONDS = 5


def track_episode(node, problem):
    """Record whether `node` has a problem now; notify when that changes.

    `problem` is a short text, or "" when everything applied. Returns the
    event sent ("failed", "recovered") or None.
    """
    if problem and node.failing_since is None:
        node.failing_since = timezone.now()
        node.save(update_fields=["failing_since"])
        _send("failed", node, problem)
        return "failed"
    if not problem and node.failing_since is not None:
        since = node.failing_since
        node.failing_since = None
        node.save(update_fields=["failing_since"])
        _send("recovered", node, f"failing since {since.isoformat()}")
        return "recovered"
    return None


def _send(event, node, detail):
    log.warning("notify event=%s node=%s detail=%s", event, node.name, detail)
    payload = {
        "event": f"caddy_sync_{event}",
        "node": node.name,
        "admin_url": node.admin_url,
        "detail": detail,
        "at": timezone.now().isoformat(),
    }
    if settings.CADDY_NOTIFY_EMAILS:
        _email(payload)
    if settings.CADDY_NOTIFY_WEBHOOK_URL:
        _webhook(payload)


def _email(payload):
    verb = "is failing" if payload["event"].endswith("failed") else "has recovered"
    subject = f"Caddy sync {verb} on node {payload['node']}"
    body = "\n".join(f"{key}: {value}" for key, value in payload.items())
    try:
        send_mail(subject, body, None, settings.CADDY_NOTIFY_EMAILS)
    except OSError as error:
        log.error("notification email not sent: %s", error)


def _webhook(payload):
    try:
        response = httpx.post(
            settings.CADDY_NOTIFY_WEBHOOK_URL,
            json=payload,
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        log.error("notification webhook failed: %s", error)
