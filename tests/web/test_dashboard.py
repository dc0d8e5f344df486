"""The HTML dashboard: its pages render, job fields are escaped, bad references and
cursors are refused.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

from datetime import date

import pytest

from marketbrief.models import RunStatus, TriggerSource
from tests.support.api_fixtures import Api
from tests.support.api_helpers import made
from tests.support.clock import DAY

SCRIPT = "<script>alert(1)</script>"


async def test_the_dashboard_pages_render(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    job_id = (await api.get(f"/api/v1/jobs/{completion.run_id}")).json()["job"]["id"]
    for path in (
        "/",
        "/?type=pre-market&status=success",
        "/reports/pre-market",
        f"/reports/pre-market?date={DAY}",
        f"/jobs/{job_id}",
        f"/jobs/{completion.run_id}",
        "/status",
    ):
        response = await api.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
    assert completion.run_id in (await api.get(f"/jobs/{job_id}")).text
    assert (await api.get("/jobs/999999")).status_code == 404
    assert (await api.get("/reports/nope")).status_code == 400
    assert (await api.get("/reports/pre-market?date=2026-02-30")).status_code == 400
    assert (await api.get("/?status=bogus")).status_code == 400
    assert (await api.get(f"/reports/weekly?date={date(2026, 11, 22)}")).status_code == 404


async def test_a_job_field_holding_a_script_tag_is_escaped_as_text_in_the_html(api: Api) -> None:
    completion = made(
        run_id=f"{DAY}_pre-market_{SCRIPT}",
        errors=({"stage": "analysis", "error": SCRIPT},),
        warnings=(SCRIPT,),
        trigger_source=TriggerSource.API,
    )
    await api.publish(completion)
    job_id = (await api.get("/api/v1/jobs/latest")).json()["job"]["id"]

    for path in (f"/jobs/{job_id}", "/", "/status"):
        html = (await api.get(path)).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    assert "<script" not in (await api.get(f"/jobs/{job_id}")).text


@pytest.mark.parametrize("ref", ["%C2%B2", "99999999999999999999"])
async def test_the_job_page_answers_404_for_a_reference_no_row_can_match(
    api: Api, ref: str
) -> None:
    assert (await api.get(f"/jobs/{ref}")).status_code == 404


async def test_the_dashboard_refuses_a_cursor_past_any_id_with_400(api: Api) -> None:
    assert (await api.get("/?cursor=cjo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ")).status_code == 400


async def test_the_job_page_names_fields_for_people_and_colours_the_status(api: Api) -> None:
    completion = made(
        status=RunStatus.PARTIAL,
        warnings=({"symbol": "NVDA", "status": "skipped", "reason": "no articles"},),
    )
    await api.publish(completion)
    html = (await api.get(f"/jobs/{completion.run_id}")).text
    assert '<dd class="field-status"><span class="pill partial">partial</span></dd>' in html
    assert '<dd class="field-reason">NVDA skipped: no articles</dd>' in html
    for label in ("Started by", "Finished", "Duration", "Symbols processed", "Success rate"):
        assert f"<dt>{label}</dt>" in html, label
    for raw in ("trigger_source", "symbols_processed", "executed_at"):
        assert f"<dt>{raw}</dt>" not in html, raw


async def test_the_history_list_filters_by_date_and_missed_cells_link_to_their_slot(
    api: Api,
) -> None:
    early = made(day=date(2026, 11, 23), hours_before=30)
    await api.publish(early)
    await api.publish(made())
    both = (await api.get("/")).text
    assert early.run_id in both
    only_day = (await api.get(f"/?from={DAY}&to={DAY}")).text
    assert early.run_id not in only_day
    assert f'name="from" value="{DAY}"' in only_day
    assert early.run_id in (await api.get("/?to=2026-11-23")).text
    assert (await api.get("/?from=2026-11-24&to=2026-11-23")).status_code == 400
    assert (await api.get("/?from=24/11/2026")).status_code == 400
    # A slot with no run links to its report page for that type and date.
    assert f'href="/reports/intraday?date={DAY}"' in both
    assert '<div class="scroll"><table class="history">' in both
