"""Delphi's own commands run as processes (`delphi serve`, `delphi worker`): for the tests that kill
or multiply them, and for the benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tests.conftest import TEST_SECRET

# The `delphi` command installed beside the interpreter running the tests (whatever the venv's name),
# else the one on the PATH.
DELPHI = shutil.which("delphi", path=str(Path(sys.executable).parent)) or shutil.which("delphi") or "delphi"


def delphi_environment(url: str, base_url: str, *, secret_key: str = TEST_SECRET, **settings: str) -> dict[str, str]:
    """The environment of a Delphi process on the database ``url``; ``settings`` are more
    ``DELPHI_`` variables, named as the settings are (``run_sender_in_server="false"``)."""
    return dict(
        os.environ,
        DELPHI_DATABASE_URL=url,
        DELPHI_SECRET_KEY=secret_key,
        DELPHI_BASE_URL=base_url,
        **{f"DELPHI_{name.upper()}": value for name, value in settings.items()},
    )


def start_server(
    url: str, port: int, *, workers: int = 1, env: dict[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen:  # type: ignore[type-arg]
    """`delphi serve` on a loopback ``port``, returned once it answers. Without ``env``, a test
    server with no mail sender of its own. Its messages go to ``log`` (a file: a pipe that nobody
    reads would fill and stall it), shown when it does not start."""
    base = f"http://127.0.0.1:{port}"
    if env is None:
        env = delphi_environment(url, base, environment="test", run_sender_in_server="false")
    process = subprocess.Popen(
        [DELPHI, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    for _ in range(150):
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/livez", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    said = ""
    if log is not None:
        log.seek(0)
        said = log.read()[-3000:].decode(errors="replace")
    raise RuntimeError(f"the server did not start\n{said}")
