"""The in-process trigger used when no broker is configured.

Saves ask for a sync after their transaction commits; this module collects
those requests and runs one sync in a daemon thread once the requests pause
for a moment (or at most a second after the first), so a loop of a thousand
saves becomes a handful of syncs. Failed syncs that are worth retrying are
retried with backoff while the process lives; whatever is still pending when
the process exits is attempted once more by an exit hook, so a change made
in `manage.py shell` reaches Caddy before the shell is gone.

Long-running processes (`serve`, `caddy_worker`) also reconcile: they sync
every CADDY_RECONCILE_SECONDS even without a request, which puts back a
Caddy that restarted empty or was edited by hand.
"""

import atexit
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from site_management.caddy import retry
from site_management.caddy.sync import LeaseBusy, prune_history, sync_all

log = logging.getLogger("site_management.caddy.background")
MAX_DELAY_SECONDS = 1.0
EXIT_FLUSH_SECONDS = 30.0
# Another process's sync holds the node for a fraction of a second; waiting
# for it beats a retry, which an exiting shell would never get to run.
LEASE_WAIT_SECONDS = 20.0


class BackgroundSyncer:
    def __init__(self, sync=sync_all):
        self._sync = sync
        self._cond = threading.Condition()
        self._thread = None
        self._first_request = None
        self._last_request = None
        self._retry_at = None
        self._reconcile_every = None
        self._reconcile_at = None
        self._failures = 0
        self._hosts = set()
        self._reasons = set()
        self._busy = False
        self.syncs_run = 0

    def request(self, reason, host=None):
        with self._cond:
            now = time.monotonic()
            self._first_request = self._first_request or now
            self._last_request = now
            self._reasons.add(reason)
            if host:
                self._hosts.add(host)
            self._start_thread()
            self._cond.notify_all()

    def reconcile_every(self, seconds):
        """Also sync every `seconds` while idle, starting now; None stops."""
        with self._cond:
            self._reconcile_every = seconds
            self._reconcile_at = time.monotonic() if seconds else None
            if seconds:
                self._start_thread()
            self._cond.notify_all()

    def flush(self, timeout=EXIT_FLUSH_SECONDS):
        """Run whatever is waiting now and wait for it; True when idle after."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._retry_at is not None:
                self._reasons.add("retry")
            if self._reasons:
                self._first_request = self._last_request = float("-inf")
                self._retry_at = None
                self._start_thread()
                self._cond.notify_all()
            while self._busy or self._first_request is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def waiting(self):
        """True while a request or a retry has not been served yet."""
        with self._cond:
            return self._busy or bool(self._reasons) or self._retry_at is not None

    def _start_thread(self):
        if self._thread and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=self._loop, name="caddy-sync", daemon=True
        )
        self._thread.start()

    def _due_at(self):
        if self._first_request is not None:
            debounce = settings.CADDY_SYNC_DEBOUNCE_MS / 1000
            return min(
                self._last_request + debounce, self._first_request + MAX_DELAY_SECONDS
            )
        times = [at for at in (self._retry_at, self._reconcile_at) if at is not None]
        return min(times, default=None)

    def _take_batch(self):
        """Wait until a sync is due, then claim what it should serve."""
        with self._cond:
            while True:
                due = self._due_at()
                if due is not None and due <= time.monotonic():
                    break
                self._cond.wait(None if due is None else due - time.monotonic())
            reconcile = self._reconcile_at is not None
            reconcile = reconcile and self._reconcile_at <= time.monotonic()
            reasons = sorted(self._reasons) or ["reconcile" if reconcile else "retry"]
            hosts = sorted(self._hosts)
            self._hosts, self._reasons = set(), set()
            self._first_request = self._last_request = self._retry_at = None
            if self._reconcile_every:
                self._reconcile_at = time.monotonic() + self._reconcile_every
            self._busy = True
            return hosts, reasons, reconcile

    def _loop(self):
        while True:
            hosts, reasons, reconcile = self._take_batch()
            ok, delay = self._run(hosts, reasons, reconcile)
            with self._cond:
                self._busy = False
                self.syncs_run += 1
                self._schedule_retry(ok, delay)
                self._cond.notify_all()

    def _run(self, hosts, reasons, reconcile):
        trigger = ", ".join(reasons)
        try:
            outcomes = self._sync(
                trigger=trigger, hosts=hosts, wait_seconds=LEASE_WAIT_SECONDS
            )
            if reconcile:
                prune_history()
        except LeaseBusy as busy:
            log.info("sync deferred: %s", busy)
            return False, retry.BUSY_SECONDS
        except Exception:
            # A database outage or a bug: keep the thread alive and retry,
            # the change is still pending in the database.
            log.exception("sync crashed trigger=%s", trigger)
            return False, None
        finally:
            # prune_history opens a connection after sync_all closed its own;
            # an idle thread must not hold one until the next sync.
            close_old_connections()
        return not any(outcome.retryable for outcome in outcomes), None

    def _schedule_retry(self, ok, delay):
        if ok:
            self._failures = 0
            return
        self._failures += 1
        delay = delay or retry.backoff_seconds(self._failures)
        self._retry_at = time.monotonic() + delay
        log.info("sync will be retried in %.1fs", delay)


syncer = BackgroundSyncer()


def _flush_at_exit():
    if syncer.waiting and not syncer.flush():
        log.warning("exiting with a sync still pending; the next sync will apply it")


atexit.register(_flush_at_exit)
