"""When to try a failed sync again: the one place that decides backoff."""

import random

BASE_SECONDS = 1.0
CAP_SECONDS = 60.0
BUSY_SECONDS = 0.5


def backoff_seconds(failures, rng=random.random):
    """Exponential backoff with full jitter over the upper half, capped.

    `failures` counts consecutive failed attempts, starting at 1.
    """
    ceiling = min(CAP_SECONDS, BASE_SECONDS * 2 ** max(failures - 1, 0))
    return ceiling / 2 + rng() * ceiling / 2
