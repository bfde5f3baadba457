"""A small client for Caddy's admin API.

Two kinds of failure matter to the caller: Caddy could not be reached (worth
retrying later) and Caddy refused the config (retrying the same bytes is
pointless; Caddy's own message says why). A stale ETag is a third, narrow
case: someone changed the config since we read it.
"""

import json
import logging

import httpx

log = logging.getLogger("site_management.caddy.client")


class CaddyError(Exception):
    retryable = False


class CaddyUnreachable(CaddyError):
    retryable = True


class CaddyRejected(CaddyError):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class ConfigChanged(CaddyError):
    """Caddy's config changed between our read and our write (HTTP 412)."""

    retryable = True


def _error_message(response):
    try:
        return response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.text.strip() or f"HTTP {response.status_code}"


class CaddyClient:
    def __init__(self, base_url, timeout):
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 3.0))

    def _request(self, method, path, **kwargs):
        url = f"{self.base_url}{path}"
        try:
            with httpx.Client(timeout=self.timeout) as http:
                return http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            raise CaddyUnreachable(f"{method} {url}: {reason}") from error

    def get_config(self):
        """Return (config, etag) of what Caddy runs now."""
        response = self._request("GET", "/config/")
        if response.status_code != 200:
            raise CaddyRejected(response.status_code, _error_message(response))
        try:
            config = response.json()
        except ValueError as error:
            raise CaddyRejected(200, f"unreadable config from Caddy: {error}") from None
        return config, response.headers.get("Etag", "")

    def replace_config(self, body, etag):
        """Replace the whole config, only if it is still the one read as `etag`.

        `POST /config/` honours If-Match; `POST /load` would ignore it.
        """
        headers = {"Content-Type": "application/json"}
        if etag:
            headers["If-Match"] = etag
        response = self._request("POST", "/config/", content=body, headers=headers)
        if response.status_code == 412:
            raise ConfigChanged(_error_message(response))
        if response.status_code >= 400:
            raise CaddyRejected(response.status_code, _error_message(response))
        log.debug("config replaced url=%s bytes=%s", self.base_url, len(body))

    def stop(self):
        self._request("POST", "/stop")


def canonical(config):
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
