"""An operator's path through the admin in a real browser (Debian's chromium
driven by playwright): log in, add a site, watch it go live, Sync now."""

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support import assert_serves, eventually

pytestmark = [pytest.mark.caddy]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a-browser-test-password"
LIVE_DEADLINE_SECONDS = 30  # a wait for the sync, not a speed assertion


def artifacts_dir():
    default = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"chromium not found (looked on PATH and at {CHROMIUM}): install "
            "Debian's chromium, e.g. `apt-get install chromium`; the browser "
            "tests never download a browser."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, settings):
    # The live server speaks plain http; secure-only cookies would not come
    # back to it from every browser.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # Wide enough for every column of the site list, the sync error too.
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page, username):
    page.goto("/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def add_site(page, host, address):
    page.goto("/admin/site_management/site/add/")
    page.fill("#id_host", host)
    page.select_option("#id_protocol", "http")
    page.select_option("#id_status", "active")
    page.fill("#id_addresses-0-ip_address", address)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")


def badge_text(page, host):
    row = page.locator("#result_list tr", has_text=host)
    return row.locator(".sync-badge").inner_text()


def wait_until_live(page, host):
    deadline = time.monotonic() + LIVE_DEADLINE_SECONDS
    while badge_text(page, host) != "live":
        assert time.monotonic() < deadline, (
            f"{host} not live after {LIVE_DEADLINE_SECONDS}s: {badge_text(page, host)}"
        )
        time.sleep(0.5)
        page.reload()


@pytest.fixture
def operator(transactional_db, django_user_model):
    # Made before the browser starts: Playwright's sync API runs an asyncio
    # loop in this thread, and Django refuses ORM calls while one runs
    # (SynchronousOnlyOperation). So the test talks to Django only through
    # the browser and to Caddy only over HTTP, and needs no
    # DJANGO_ALLOW_ASYNC_UNSAFE.
    return django_user_model.objects.create_superuser("operator", password=PASSWORD)


def test_an_operator_adds_a_site_sees_it_live_and_syncs_now(
    caddy, upstreams, operator, page
):
    app = upstreams("app")

    log_in(page, "operator")
    add_site(page, "browser.test", app.address)
    wait_until_live(page, "browser.test")
    eventually(lambda: caddy.get("browser.test").text == "upstream app")
    assert_serves(caddy, "browser.test", app)

    page.get_by_role("button", name="Sync now").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "Caddy serves the database"
    )
    assert badge_text(page, "browser.test") == "live"
    page.screenshot(path=artifacts_dir() / "site-list.png", full_page=True)

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(".sync-state-live .count")).to_have_text("1")
    page.screenshot(path=artifacts_dir() / "dashboard.png", full_page=True)
