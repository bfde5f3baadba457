"""When to try a failed sync again: the one place that decides backoff."""

import random

from django.conf import settings

BASE_SECONDS = 1.0
BUSY_SECONDS = 0.5


def backoff_seconds(failures, rng=random.random):
    """Exponential backoff with jitter over the upper half, capped by
    CADDY_RETRY_MAX_SECONDS. `failures` counts consecutive failures from 1."""
    cap = float(settings.CADDY_RETRY_MAX_SECONDS)
    ceiling = min(cap, BASE_SECONDS * 2 ** min(max(failures - 1, 0), 32))
    return ceiling / 2 + rng() * ceiling / 2
