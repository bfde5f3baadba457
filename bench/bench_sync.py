"""Benchmarks of the render and apply path against a real Caddy.

    .venv/bin/python bench/bench_sync.py [--sizes 1000,10000]

Prints a Markdown table; bench/BENCHMARKS.md keeps the last results. Figures
are wall-clock on a shared machine: compare the ratios within one run.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WAF_STATE_DIR", tempfile.mkdtemp(prefix="waf-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waf_app.settings")

import django  # noqa: E402

django.setup()

from site_management.caddy.client import CaddyClient  # noqa: E402
from site_management.caddy.render import RenderOptions, SiteSpec, render  # noqa: E402
from tests.harness import CaddyHarness, Upstream  # noqa: E402


def specs(count, upstream):
    return [
        SiteSpec(i, f"site{i:05d}.bench", "http", False, "active", (upstream,))
        for i in range(1, count + 1)
    ]


def timed(function, repeat=3):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return min(samples)


def request_ms(caddy, host, count=200):
    samples = []
    with httpx.Client(timeout=10) as http:
        url = f"http://127.0.0.1:{caddy.http_port}/"
        for _ in range(count):
            started = time.perf_counter()
            http.get(url, headers={"Host": host})
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(caddy, client, options, count, upstream):
    site_specs = specs(count, upstream)
    render_s = timed(lambda: render(site_specs, options))
    rendered = render(site_specs, options)

    def load():
        etag = client.get_config()[1]
        client.replace_config(rendered.body, etag)

    # Alternate with an empty config so every load provisions all sites.
    empty = render([], options)
    load_samples = []
    for _ in range(3):
        client.replace_config(empty.body, client.get_config()[1])
        load_samples.append(timed(load, repeat=1))
    first = request_ms(caddy, site_specs[0].host)
    last = request_ms(caddy, site_specs[-1].host)

    # What a reconcile with nothing to do costs: render, read, compare.
    def unchanged():
        assert client.get_config()[0] == render(site_specs, options).config

    check_s = timed(unchanged)
    return count, render_s, min(load_samples), check_s, len(rendered.body), first, last


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]

    caddy = CaddyHarness()
    caddy.start()
    upstream = Upstream("bench")
    options = RenderOptions(
        admin_listen=f"127.0.0.1:{caddy.admin_port}",
        http_port=caddy.http_port,
        https_port=caddy.https_port,
        bind="127.0.0.1",
        tls_issuer="internal",
    )
    client = CaddyClient(caddy.api_url, 60)
    print(
        "| sites | render | POST /config/ (whole) | no-change check | config bytes |"
        " first host req | last host req |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    try:
        for size in sizes:
            count, render_s, load_s, check_s, size_b, first, last = measure(
                caddy, client, options, size, upstream.address
            )
            print(
                f"| {count} | {render_s * 1000:.0f} ms | {load_s * 1000:.0f} ms |"
                f" {check_s * 1000:.0f} ms | {size_b / 1024:.0f} KiB |"
                f" {first:.2f} ms | {last:.2f} ms |"
            )
    finally:
        upstream.close()
        caddy.stop()


if __name__ == "__main__":
    main()
