"""Shared pieces of the TLS remote API tests: certificates, the server, a
daemon object with its own state database (no subprocess)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from osqlite.daemon import Daemon
from osqlite.flags import Flags

SECRET = "this_is_a_deployment_secret"


def need_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (Debian package openssl): "
                    "the tests make their certificates with it")


def daemon_for(tmp: Path, server: Any, **flags: Any) -> Daemon:
    """A real osqlite Daemon (not started) pointed at the test server."""
    secret = tmp / "secret"
    if not secret.exists():
        secret.write_text(SECRET + "\n")
    values = server.flags(secret, database_path=tmp / "osquery.db", pidfile=tmp / "pid",
                          logger_path=tmp, ephemeral="true", tls_enroll_max_attempts=1)
    values.update(flags)
    f = Flags()
    f.parse_argv([f"--{k}={v}" for k, v in values.items()])
    return Daemon(f)
