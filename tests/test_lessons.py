"""Guards for lessons that are about the shape of the code rather than one behaviour."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "marketbrief"


def test_lesson_7_only_the_keys_module_spells_cache_key_names() -> None:
    spelled = re.compile(r"""["'](report|lock|history):""")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name != "keys.py" and spelled.search(path.read_text())
    ]
    assert offenders == []


def test_lesson_2_no_module_derives_a_business_date_from_a_utc_date() -> None:
    # "today" must come from calendar.business_date / default_report_date, in New York.
    suspicious = re.compile(r"(utcnow|now|clock)\(\)\.date\(\)|date\.today\(\)|\bnow\.date\(\)")
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if suspicious.search(path.read_text())
    ]
    assert offenders == []
