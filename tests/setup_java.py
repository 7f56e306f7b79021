"""Make sure a Java runtime (17 or later) is there for the Spark tests (``make test`` runs this).

Usage::

    python -m tests.setup_java

PySpark runs Spark in a JVM: the Spark tests (marked ``spark``, see
``tests/engines.py``) need ``java`` 17 or later (``$JAVA_HOME/bin/java``, else
the one on ``PATH``).  When it is missing and we run as root (a CI container), install Debian's
``openjdk-17-jre-headless`` with ``apt-get`` (non-interactive; the newer
``openjdk-21-jre-headless`` or ``default-jre-headless`` on a release without
it).  Otherwise say how to install it: the Spark tests are skipped locally
without Java, and fail in CI (``CI`` set).  Java is only ever installed from
the system's package manager.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

MINIMUM = 17
PACKAGES = ("openjdk-17-jre-headless", "openjdk-21-jre-headless", "default-jre-headless")
INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y openjdk-17-jre-headless"
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_path() -> Path | None:
    """Return the ``java`` PySpark will start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None
    found = shutil.which("java")
    return Path(found) if found else None


def java_version(java: Path) -> int | None:
    """Return the major version of ``java`` (8 for ``1.8.0_x``), or ``None`` if it does not run."""
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(done.stderr + done.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_ok() -> bool:
    """Whether a Java runtime recent enough for Spark is there."""
    java = java_path()
    version = java_version(java) if java is not None else None
    return version is not None and version >= MINIMUM


def _apt_get(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.call(["apt-get", *args], env=env, stdin=subprocess.DEVNULL)


def _candidate(package: str) -> bool:
    """Whether apt knows an installable version of ``package`` (``apt-cache policy``)."""
    done = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    )
    match = re.search(r"Candidate:\s*(\S+)", done.stdout)
    return match is not None and match.group(1) != "(none)"


def _install() -> int:
    code = _apt_get("update")
    if code:
        return code
    for package in PACKAGES:
        if _candidate(package):
            print(f"java: installing {package} with apt-get", flush=True)
            return _apt_get("install", "-y", "--no-install-recommends", package)
    print(f"java: apt knows none of {', '.join(PACKAGES)}", file=sys.stderr)
    return 1


def main() -> int:
    """Install Java when possible; return 0 when it is (now) there, or when tests may skip."""
    ci = bool(os.environ.get("CI"))
    if java_ok():
        java = java_path()
        print(f"java: {java} is Java {java_version(java) if java else '?'}")
        return 0
    java = java_path()
    found = f"{java} is Java {java_version(java)}" if java is not None else "no java on PATH"
    home = os.environ.get("JAVA_HOME")
    if home and java is None:
        print(
            f"java: JAVA_HOME={home} holds no bin/java; point it at a Java {MINIMUM}+ runtime "
            "or unset it.",
            file=sys.stderr,
        )
        return 1 if ci else 0
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get") and shutil.which("apt-cache"):
        print(f"java: {found}; Spark needs Java {MINIMUM} or later", flush=True)
        code = _install()
        if code == 0 and java_ok():
            return 0
        why = f"apt-get failed (exit code {code})" if code else "java is still not usable"
        print(f"java: {why}", file=sys.stderr)
        return 1 if ci else 0
    print(
        f"java: {found}; the Spark tests need Java {MINIMUM} or later, so they will be "
        f"skipped{' and fail, since CI is set' if ci else ''}. Install it with: {INSTALL_HINT} "
        "(or point JAVA_HOME at a Java 17+ runtime).",
        file=sys.stderr,
    )
    return 1 if ci else 0


if __name__ == "__main__":
    sys.exit(main())
