"""schemathesis' CLI against a live server's /openapi.json, bounded in time, and its tally."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from harness import BIN, ROOT

from resilience.server import API_KEY


def fuzz(url: str, seconds: int, folder: Path) -> dict[str, Any]:
    """schemathesis' CLI against the live /openapi.json, bounded by --max-time."""
    st = shutil.which("st", path=str(BIN)) or shutil.which("schemathesis", path=str(BIN))
    if st is None:
        return {"skipped": "schemathesis is not installed"}
    checks = ",".join(
        (
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
            "response_headers_conformance",
        )
    )
    command = [
        st,
        "run",
        f"{url}/openapi.json",
        "--max-time",
        str(seconds),
        "--checks",
        checks,
        "-H",
        f"X-API-Key: {API_KEY}",
        "--workers",
        "1",
        "--seed",
        "20261129",
        "--no-color",
        "--report",
        "ndjson",
        "--report-dir",
        str(folder),
    ]
    done = subprocess.run(  # noqa: S603 - schemathesis from our venv, no shell
        command, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT, check=False
    )
    summary = re.search(r"Test cases:\s*\n\s*(.+)", done.stdout)
    statuses: Counter[int] = Counter()
    for path in folder.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            _count_statuses(json.loads(line), statuses)
    failures = re.findall(r"^\s*\d+\.\s+(.+)$", done.stdout.split("FAILURES")[-1], re.M)
    warned = re.search(r"=+ WARNINGS =+\n(.*?)\n=+ SUMMARY =+", done.stdout, re.S)
    warnings = [
        line.strip()
        for line in (warned.group(1) if warned else "").splitlines()
        if line.strip() and line.strip().isascii()
    ]
    return {
        "command": " ".join(command)
        .replace(API_KEY, "$MARKETBRIEF_API_KEY")
        .replace(str(BIN) + "/", ".venv/bin/")
        .replace(url, "http://127.0.0.1:P")
        .replace(str(folder), "<work>/schemathesis"),
        "exit_code": done.returncode,
        "test_cases": summary.group(1).strip() if summary else "?",
        "answers_by_status": dict(sorted(statuses.items())),
        "warnings": " ".join(warnings) or "none",
        "failures": failures[:10] if done.returncode else [],
        "tail": done.stdout[-1500:] if done.returncode else "",
    }


def _count_statuses(node: Any, statuses: Counter[int]) -> None:
    if isinstance(node, dict):
        code = node.get("status_code")
        if isinstance(code, int) and "elapsed" in node:
            statuses[code] += 1
        for value in node.values():
            _count_statuses(value, statuses)
    elif isinstance(node, list):
        for value in node:
            _count_statuses(value, statuses)
