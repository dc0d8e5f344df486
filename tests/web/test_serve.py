"""`marketbrief serve` as a real process: it answers, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.probes import free_port

from marketbrief.models import RunStatus
from marketbrief.store.sql import SQLStore
from tests.support.session_files import SESSION, session_news, session_prices

BIN = Path(sys.executable).parent
KEY = "serve-test-key-0123456789"


def _post(url: str, body: dict[str, str]) -> tuple[int, dict[str, str]]:
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sigterm_finishes_in_flight_runs_and_exits_cleanly(tmp_path: Path, sqlite_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_API_KEY": KEY,
        "MARKETBRIEF_SYMBOLS": "AAPL,MSFT",
        "MARKETBRIEF_NEWS": f"dir:{session_news(tmp_path / 'news')}",
        "MARKETBRIEF_PRICES": f"dir:{session_prices(tmp_path / 'prices')}",
        "MARKETBRIEF_TRIGGER_BURST": "50",
    }
    subprocess.run([BIN / "marketbrief", "migrate"], env=env, check=True, capture_output=True)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [BIN / "marketbrief", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        run_ids = []
        for _ in range(5):
            status, body = _post(
                f"{base}/api/v1/jobs/trigger", {"type": "pre-market", "date": SESSION}
            )
            assert status == 202, body
            run_ids.append(body["run_id"])
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal for its parent to see.
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    store = SQLStore(sqlite_url)
    try:
        statuses = []
        for run_id in run_ids:
            detail = store.get_run(run_id)
            assert detail is not None
            statuses.append(detail.run.status)
    finally:
        store.close()
    # Every accepted run was finished before the process left: none is left running.
    assert RunStatus.RUNNING not in statuses
    assert set(statuses) == {RunStatus.SUCCESS}
