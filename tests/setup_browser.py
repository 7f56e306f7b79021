"""Make sure Debian's Chromium is there for the browser tests (``make test`` runs this).

Usage::

    python -m tests.setup_browser

When ``/usr/bin/chromium`` is missing and we run as root (a CI container),
install it with ``apt-get`` (non-interactive).  Otherwise say how to install it:
the browser tests are skipped locally without it, and fail in CI (``CI`` set).
A browser is only ever installed from the system's package manager, never
downloaded any other way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y chromium"


def chromium_path() -> Path | None:
    """Return Debian's Chromium when it is installed."""
    return CHROMIUM if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK) else None


def _apt_get(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.call(["apt-get", *args], env=env, stdin=subprocess.DEVNULL)


def main() -> int:
    """Install Chromium when possible; return 0 when it is (now) there."""
    if chromium_path() is not None:
        print(f"chromium: {CHROMIUM} is installed")
        return 0
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        print("chromium: not installed; installing it with apt-get", flush=True)
        code = _apt_get("update") or _apt_get("install", "-y", "chromium")
        if code == 0 and chromium_path() is not None:
            return 0
        why = f"apt-get failed (exit code {code})" if code else f"{CHROMIUM} is still missing"
        print(f"chromium: {why}", file=sys.stderr)
        return 1 if os.environ.get("CI") else 0
    print(
        f"chromium: {CHROMIUM} is missing, so the browser tests will be skipped"
        f"{' and fail, since CI is set' if os.environ.get('CI') else ''}. "
        f"Install it with: {INSTALL_HINT}",
        file=sys.stderr,
    )
    return 1 if os.environ.get("CI") else 0


if __name__ == "__main__":
    sys.exit(main())
