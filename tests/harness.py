"""Real peers for the tests: a Caddy process and small upstream HTTP servers."""

import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

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
