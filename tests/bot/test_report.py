"""The clinic's report page (bot/report.py): self-contained, escaped, and readable at its edges."""

from __future__ import annotations

import pytest

from bot.report import parse_since, report_html

DAY = 86400.0
NOW = 100 * DAY + 3600


def _report(**changes: object) -> dict[str, object]:
    report: dict[str, object] = {
        "since": NOW - 2 * DAY,
        "until": NOW,
        "conversations": 2,
        "messages": 3,
        "per_day": [{"day": 98 * DAY, "messages": 1}, {"day": 100 * DAY, "messages": 2}],
        "by_topic": {"cost": 2, "<script>alert(1)</script>": 1},
        "by_route": {"intent": 3},
        "by_channel": {"rest": 3},
        "escalations": 0,
        "feedback": {"helpful": 1, "not_helpful": 0, "by_topic": {"cost": {"helpful": 1, "not_helpful": 0}}},
        "review_queue": {"total": 0, "by_reason": {}},
    }
    report.update(changes)
    return report


def test_every_day_of_the_period_is_a_column_and_the_edge_labels_fit() -> None:
    page = report_html(_report(), {"cost": "Cost <and> insurance"})
    assert "<title>1970-04-10: 0</title>" in page  # the day without messages is a column too
    assert 'text-anchor="start">1970-04-09<' in page and 'text-anchor="end">1970-04-11<' in page
    assert (
        "Cost &lt;and&gt; insurance" in page and "<script" not in page
    )  # titles escaped; unknown topics left out


@pytest.mark.parametrize("since", ["yesterday", "0d", "30x", "-1d", "1970-04-20"])
def test_a_since_that_makes_no_sense_says_what_is_accepted(since: str) -> None:
    with pytest.raises(ValueError, match="SINCE"):
        parse_since(since, NOW)


def test_periods_and_dates_are_read() -> None:
    assert parse_since("2d", NOW) == NOW - 2 * DAY
    assert parse_since("12h", NOW) == NOW - 12 * 3600
    assert parse_since("1970-04-09", NOW) == 98 * DAY  # midnight UTC
