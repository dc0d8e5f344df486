"""What the report pages print: numbers for people, headlines as links, the chart's gaps."""

from __future__ import annotations

from marketbrief.web import templating
from marketbrief.web.report_views import end_of_day, headline, pre_market
from marketbrief.web.trend import chart


def test_numbers_are_formatted_for_people() -> None:
    assert templating.signed_percent(1.234) == "+1.23%"
    assert templating.signed_percent(-0.4) == "-0.40%"
    assert templating.signed_percent(None) == "—"
    assert templating.price(1234.5) == "1,234.50"
    assert templating.price("12") == "—"  # text an older system stored is not a price
    assert templating.decimal(0.7349) == "0.73"
    assert templating.k_of_n({"hits": 3, "calls": 5, "rate": 0.6}) == "3 of 5 (60%)"
    assert templating.k_of_n({"hits": 0, "calls": 0, "rate": None}) == "0 of 0 (not measured)"
    assert templating.k_of_n(None) == "not measured"


def test_a_headline_links_only_to_http_and_a_bare_title_keeps_its_title() -> None:
    assert headline("Apple beats") == {
        "title": "Apple beats",
        "source": None,
        "published_at": None,
        "url": None,
    }
    hostile = headline({"title": "x", "url": "javascript:alert(1)"})
    assert hostile is not None
    assert hostile["url"] is None
    linked = headline({"title": "x", "url": "https://example.com/a", "source": "wire"})
    assert linked is not None
    assert (linked["url"], linked["source"]) == ("https://example.com/a", "wire")
    assert headline({"title": 5}) is None
    view = pre_market({"symbols": [{"symbol": "AAPL", "headlines": 7}]})
    assert view["calls"][0]["headlines"] == []


def test_an_older_end_of_day_payload_still_gives_its_high_confidence_k_of_n() -> None:
    old = {
        "scored": 4,
        "correct": 3,
        "accuracy": 0.75,
        "symbols": [{"symbol": "AAPL", "direction": "up", "outcome": "correct"}],
    }
    view = end_of_day(old)
    assert view["high"] == {"hits": 3, "calls": 4, "rate": 0.75}
    assert view["all"] is None  # not in the payload: absent, not made up
    assert view["rows"][0]["result"] == "right"


def test_the_chart_leaves_a_session_without_a_judged_call_as_a_gap() -> None:
    points = [
        {"date": "2026-11-23", "hits": 2, "calls": 4},
        {"date": "2026-11-24", "hits": 3, "calls": 3},
        {"date": "2026-11-25", "hits": None, "calls": None},  # no report
        {"date": "2026-11-26", "hits": 0, "calls": 0},  # nothing judged
        {"date": "2026-11-27", "hits": 1, "calls": 2},
    ]
    drawn = chart(points)
    assert drawn["rated"] == 3
    assert drawn["gaps"] == 2
    assert len(drawn["segments"]) == 2  # no line across the two unmeasured sessions
    assert [c["calls"] for c in drawn["coords"]] == [4, 3, 2]
    assert drawn["labels"][0]["text"] == "11-23"
    assert drawn["labels"][-1]["text"] == "11-27"
