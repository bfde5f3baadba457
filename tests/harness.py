"""Real peers for the tests: a Caddy process, small upstream HTTP servers and
a Celery worker."""

import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import redis

from site_management.caddy import process


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CaddyHarness:
    """One Caddy on free loopback ports, with its own data and config folders."""

    def __init__(self):
        self.admin_port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="caddy-test-"))
        self.log_path = self.base / "caddy.log"
        self.process = None

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self, config=None):
        """Start Caddy; with no config it starts empty, like a fresh install."""
        config = config or {"admin": {"listen": f"127.0.0.1:{self.admin_port}"}}
        with open(self.log_path, "ab") as log_file:
            self.process = process.start_caddy(config, self.base, log_file)
        process.wait_until_ready(self.api_url, self.process)

    def stop(self):
        if self.process is not None:
            process.stop_caddy(self.process)
            self.process = None

    def kill(self):
        """End Caddy with SIGKILL, the way a crash or an OOM kill would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def config_posts(self):
        """How many whole-config replacements this Caddy has received."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        wanted = ('"msg":"received request"', '"method":"POST"', '"uri":"/config/"')
        return sum(all(part in line for part in wanted) for line in lines)

    def get(self, host, path="/", **kwargs):
        """A real HTTP request to Caddy's http port, for `host`."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        return httpx.get(url, headers={"Host": host}, timeout=10, **kwargs)


class Upstream:
    """An HTTP server that answers every request with its own name."""

    def __init__(self, name):
        self.name = name
        self.hits = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.hits += 1
                body = f"upstream {upstream.name}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return  # keep the test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval makes close() quick; the default waits 0.5 s.
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# Gossip, mingle and heartbeats talk to other workers; a test worker has none.
WORKER_OPTIONS = (
    "worker --beat --loglevel=info --pool=threads --concurrency=2 "
    "--without-gossip --without-mingle --without-heartbeat"
).split()


class CeleryWorker:
    """`celery worker --beat` in a child process, consuming one queue.

    Threads rather than prefork: one process holds the worker, its two
    task threads and beat, so stopping it stops everything.
    """

    def __init__(self, queue, environment, folder):
        self.queue = queue
        self.environment = environment
        self.folder = Path(folder)
        self.log_path = self.folder / "celery.log"
        self.process = None
        self.starts = 0

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self, timeout=30.0):
        self.starts += 1
        command = [sys.executable, "-m", "celery", "-A", "waf_app", *WORKER_OPTIONS]
        command += ["-Q", self.queue, "-n", f"{self.queue}-{self.starts}@%h"]
        command += ["--schedule", str(self.folder / "beat-schedule")]
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=Path(__file__).resolve().parent.parent,
                env=self.environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_ready(timeout)

    def _wait_until_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"celery worker exited:\n{self.log()}")
            log = self.log()
            if " ready." in log and "beat: Starting..." in log:
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery worker not ready in {timeout}s:\n{self.log()}")

    def stop(self, timeout=30.0):
        """A warm shutdown: running tasks finish, held ones go back to Redis."""
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def log(self):
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


def forget_celery_queue(broker_url, queue):
    """Remove what a test queue left in Redis: its messages (every priority
    list), its bindings, the coalescing key and messages a stopped worker
    held unacknowledged. Other keys are left alone; the Redis may be shared."""
    client = redis.Redis.from_url(broker_url, socket_timeout=5)
    try:
        names = [queue, f"{queue}:sync-queued"]
        names += [f"{queue}\x06\x16{priority}" for priority in range(1, 10)]
        names += [f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
        client.delete(*names)
        for tag, payload in client.hgetall("unacked").items():
            if _routing_key(payload) == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def _routing_key(unacked_payload):
    try:
        _message, _exchange, routing_key = json.loads(unacked_payload)
    except (ValueError, TypeError):
        return None
    return routing_key
