"""Golden renders: sites and options in, the Caddy JSON config out.

Each tests/golden/<case>.json holds a description, the input (SiteSpec fields
and RenderOptions) and the output the renderer must give: the config Caddy
receives, the hash of its bytes, and the rows refused by the final check.

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_golden.py

rewrites every output from the current renderer. A rewritten golden proves
nothing by itself: read the diff and check it is what Caddy should get. The
tests below the golden ones pin the important properties by hand, so a
careless rewrite still fails them.
"""

import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from site_management.caddy.render import (
    HOSTS_PER_ROUTE,
    RenderOptions,
    SiteSpec,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.stem for path in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def load(case):
    return json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))


def dump(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def specs_and_options(case):
    data = load(case)["input"]
    specs = [
        SiteSpec(**{**site, "upstreams": tuple(site["upstreams"])})
        for site in data["sites"]
    ]
    return specs, RenderOptions(**data["options"])


def output(rendered):
    refused = {str(pk): reason for pk, reason in rendered.refused.items()}
    return {"config": rendered.config, "hash": rendered.hash, "refused": refused}


def render_case(case):
    specs, options = specs_and_options(case)
    return render(specs, options)


def servers(config):
    return config["apps"]["http"]["servers"]


def hosts_in_order(server):
    """Every site host of a server, in the order Caddy tries them."""
    hosts = []
    for group in server["routes"][:-1]:
        hosts += [
            route["match"][0]["host"][0] for route in group["handle"][0]["routes"]
        ]
    return hosts


def site_route(server, host):
    for group in server["routes"][:-1]:
        for route in group["handle"][0]["routes"]:
            if route["match"] == [{"host": [host]}]:
                return route
    raise AssertionError(f"no route for {host}")


@pytest.mark.parametrize("case", CASES)
def test_rendering_gives_the_golden_config(case):
    path = GOLDEN / f"{case}.json"
    data = load(case)
    actual = output(render_case(case))

    if UPDATE:
        path.write_text(dump({**data, "output": actual}), encoding="utf-8")
        pytest.skip(f"rewrote {path.name}: read the diff before keeping it")

    assert dump(actual) == dump(data["output"])
    assert path.read_text(encoding="utf-8") == dump(data), "not pretty-printed"


@pytest.mark.parametrize("case", CASES)
def test_the_same_sites_in_another_order_give_the_same_bytes_and_hash(case):
    specs, options = specs_and_options(case)
    first = render(specs, options)

    orders = [specs[::-1]]
    for seed in range(3):
        orders.append(random.Random(seed).sample(specs, len(specs)))

    for order in orders:
        again = render(order, options)
        assert again.body == first.body
        assert again.hash == first.hash
        assert again.refused == first.refused


@pytest.mark.parametrize("case", CASES)
def test_the_hash_is_the_sha256_of_the_compact_sorted_body(case):
    rendered = render_case(case)

    expected = json.dumps(rendered.config, sort_keys=True, separators=(",", ":"))
    assert rendered.body == expected.encode()
    assert rendered.hash == hashlib.sha256(rendered.body).hexdigest()


def test_an_empty_database_still_answers_404_and_keeps_the_admin_endpoint():
    config = render_case("empty_database").config

    assert config["admin"] == {"listen": "127.0.0.1:2019"}
    assert "tls" not in config["apps"]
    for name, server in servers(config).items():
        assert server["routes"] == [
            {"@id": f"{name}-not-found", "handle": [server["routes"][0]["handle"][0]]}
        ]
        assert server["routes"][0]["handle"][0]["status_code"] == 404


def test_two_upstreams_are_balanced_round_robin_with_a_retry():
    http = servers(render_case("two_upstreams_round_robin").config)["http"]
    proxy = site_route(http, "myapp.com")["handle"][0]

    assert proxy["upstreams"] == [{"dial": "10.0.0.1:8080"}, {"dial": "10.0.0.2:8080"}]
    assert proxy["load_balancing"]["selection_policy"] == {"policy": "round_robin"}
    assert proxy["load_balancing"]["retries"] == 1


def test_a_site_under_maintenance_answers_503_on_its_own_server():
    config = render_case("maintenance").config

    http_site = site_route(servers(config)["http"], "myapp.com")["handle"][0]
    https_site = site_route(servers(config)["https"], "secure.example")["handle"][0]
    for handler in (http_site, https_site):
        assert handler["handler"] == "static_response"
        assert handler["status_code"] == 503
        assert handler["headers"]["Retry-After"] == ["300"]


def test_inactive_sites_get_no_route_and_no_certificate():
    config = render_case("inactive").config

    assert hosts_in_order(servers(config)["http"]) == ["on.example"]
    assert hosts_in_order(servers(config)["https"]) == []
    assert "tls" not in config["apps"]


def test_an_https_site_is_redirected_from_http_and_gets_an_acme_certificate():
    config = render_case("https_acme").config
    http, https = servers(config)["http"], servers(config)["https"]

    redirect = site_route(http, "myapp.com")["handle"][0]
    assert redirect["status_code"] == 308
    assert redirect["headers"]["Location"] == [
        "https://{http.request.host}{http.request.uri}"
    ]
    assert site_route(https, "myapp.com")["handle"][0]["handler"] == "reverse_proxy"
    assert hosts_in_order(https) == ["myapp.com"]
    assert config["apps"]["tls"]["automation"]["policies"] == [
        {"subjects": ["myapp.com"], "issuers": [{"module": "acme"}]}
    ]
    assert "pki" not in config["apps"]


def test_the_internal_issuer_does_not_touch_the_trust_store_and_ports_are_kept():
    config = render_case("https_internal_issuer_other_ports").config
    http, https = servers(config)["http"], servers(config)["https"]

    assert http["listen"] == ["127.0.0.1:8080"]
    assert https["listen"] == ["127.0.0.1:8443"]
    assert site_route(http, "myapp.test")["handle"][0]["headers"]["Location"] == [
        "https://{http.request.host}:8443{http.request.uri}"
    ]
    policy = config["apps"]["tls"]["automation"]["policies"][0]
    assert policy["issuers"] == [{"module": "internal"}]
    local = config["apps"]["pki"]["certificate_authorities"]["local"]
    assert local["install_trust"] is False


def test_exact_hosts_are_tried_before_wildcards():
    http = servers(render_case("exact_before_wildcard").config)["http"]

    assert hosts_in_order(http) == [
        "api.shop.example.com",
        "example.com",
        "www.example.com",
        "*.shop.example.com",
        "*.example.com",
    ]


def test_an_active_site_without_upstreams_answers_502():
    http = servers(render_case("active_site_without_upstreams").config)["http"]
    handler = site_route(http, "lonely.example")["handle"][0]

    assert handler["handler"] == "static_response"
    assert handler["status_code"] == 502


def test_rows_written_around_validation_are_left_out_and_reported():
    rendered = render_case("refused_rows")

    assert sorted(rendered.refused) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "braces" in rendered.refused[2]
    assert "zone" in rendered.refused[9]
    assert hosts_in_order(servers(rendered.config)["http"]) == ["good.example"]
    assert "{env" not in rendered.body.decode()
    assert "{path}" not in rendered.body.decode()


def test_a_stored_upstream_that_leads_back_into_caddy_is_left_out():
    options = RenderOptions(admin_listen="127.0.0.1:2019", http_port=8080)
    sites = [
        SiteSpec(1, "admin.example", "http", False, "active", ("localhost:2019",)),
        SiteSpec(2, "loop.example", "http", False, "active", ("127.0.0.1:8080",)),
        SiteSpec(3, "good.example", "http", False, "active", ("10.0.0.5:2019",)),
    ]

    rendered = render(sites, options)

    assert "admin API" in rendered.refused[1]
    assert "would loop" in rendered.refused[2]
    assert 3 not in rendered.refused
    assert hosts_in_order(servers(rendered.config)["http"]) == ["good.example"]


def test_many_sites_are_grouped_into_routes_of_at_most_100_hosts():
    http = servers(render_case("many_sites_grouped").config)["http"]
    groups = http["routes"][:-1]

    assert [len(group["match"][0]["host"]) for group in groups] == [100, 100, 50]
    for group in groups:
        inner = [route["match"][0]["host"][0] for route in group["handle"][0]["routes"]]
        assert group["match"][0]["host"] == inner
        assert len(inner) <= HOSTS_PER_ROUTE
        assert group["terminal"] is True
    hosts = hosts_in_order(http)
    assert len(set(hosts)) == 250
    assert all(not host.startswith("*.") for host in hosts[:240])
    assert all(host.startswith("*.") for host in hosts[240:])
    assert http["routes"][-1]["@id"] == "http-not-found"


def test_uploaded_certificates_are_loaded_selected_by_sni_and_kept_from_acme():
    config = render_case("https_uploaded_certificate").config
    https = servers(config)["https"]
    tls = config["apps"]["tls"]

    tags = [entry["tags"] for entry in tls["certificates"]["load_files"]]
    assert tags == [["cert-aaaaaaaaaaaaaaaa"], ["cert-bbbbbbbbbbbbbbbb"]]
    policies = https["tls_connection_policies"]
    assert [p["match"]["sni"] for p in policies[:-1]] == [
        ["other.example.org"],
        ["shop.example.com"],
        ["*.example.com"],
    ]
    assert policies[-1] == {}
    assert https["automatic_https"]["skip_certificates"] == [
        "*.example.com",
        "other.example.org",
        "shop.example.com",
    ]
    # Only the auto_ssl site without a certificate is left to the issuer.
    assert tls["automation"]["policies"][0]["subjects"] == ["auto.example.net"]


def test_a_site_whose_certificate_is_gone_is_refused_and_others_still_load():
    rendered = render_case("https_certificate_missing")
    tls = rendered.config["apps"]["tls"]

    assert rendered.refused == {
        1: "https without auto_ssl needs an uploaded certificate"
    }
    assert [entry["tags"] for entry in tls["certificates"]["load_files"]] == [
        ["cert-bbbbbbbbbbbbbbbb"]
    ]
    https = servers(rendered.config)["https"]
    assert [p.get("match") for p in https["tls_connection_policies"]] == [
        {"sni": ["kept.example.com"]},
        None,
    ]
