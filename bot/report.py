"""The clinic's report as a self-contained HTML page (``make report``, ``/admin/``) and the
review queue as Rasa NLU training data (``make review``).

The figures come from ``rasa_server/activity.py`` (``summary``); this module only lays them
out: bar charts drawn as inline SVG, no script, no file or font fetched, so the page opens
anywhere, offline, and can be mailed as one file. Every piece of data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import yaml

from bot.activity import REVIEW_NOT_HELPFUL, REVIEW_OUT_OF_SCOPE
from bot.knowledge import FAQ_INTENT_PREFIX

OUTCOME_NAMES = {
    "intent": "answered (classifier)",
    "retrieval": "answered (retrieval)",
    "did_you_mean": "did you mean",
    "no_match": "no match",
    "out_of_scope": "out of scope",
    "safety": "urgent reply (safety)",
    "fault": "fault",
    "other": "other (greeting, contact)",
}
REASON_NAMES = {
    "no_match": "no match",
    "did_you_mean": "did you mean",
    "out_of_scope": "out of scope",
    "not_helpful": "marked not helpful",
}
BAR = "#2f6f9f"
GOOD, BAD = "#2e8540", "#c0392b"


def _bars(rows: Sequence[tuple[str, float]], title: str, color: str = BAR, unit: str = "") -> str:
    """A horizontal bar chart, one labelled bar per row, as inline SVG."""
    if not rows:
        return (
            f"<figure><figcaption>{html.escape(title)}</figcaption><p class=empty>No data yet.</p></figure>"
        )
    top = max(value for _, value in rows) or 1
    height, label_width, width = 22, 210, 620
    bars = []
    for index, (label, value) in enumerate(rows):
        y = index * height
        length = (width - label_width - 60) * value / top
        bars.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{height - 8}" fill="{color}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{value:g}{unit}</text>'
        )
    svg_height = height * len(rows)
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {svg_height}" '
        f'width="{width}" height="{svg_height}">{"".join(bars)}</svg></figure>'
    )


def _columns(rows: Sequence[tuple[str, float]], title: str) -> str:
    """A column chart over time (messages per day), as inline SVG."""
    if not rows:
        return (
            f"<figure><figcaption>{html.escape(title)}</figcaption><p class=empty>No data yet.</p></figure>"
        )
    width, chart_height, bottom = 620, 160, 34
    top = max(value for _, value in rows) or 1
    step = width / len(rows)
    shapes = []
    for index, (label, value) in enumerate(rows):
        column = chart_height * value / top
        x = index * step
        shapes.append(
            f'<rect x="{x + 1:.1f}" y="{chart_height - column:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{column:.1f}" fill="{BAR}"><title>{html.escape(label)}: {value:g}</title></rect>'
        )
    for index in sorted({0, len(rows) // 2, len(rows) - 1}):
        # The first label starts at the left edge, the last ends at the right: none is cut off.
        anchor, x = "middle", index * step + step / 2
        if index == 0 and len(rows) > 1:
            anchor, x = "start", 0.0
        elif index == len(rows) - 1 and len(rows) > 1:
            anchor, x = "end", float(width)
        shapes.append(
            f'<text x="{x:.1f}" y="{chart_height + 20}" text-anchor="{anchor}">'
            f"{html.escape(rows[index][0])}</text>"
        )
    return (
        f"<figure><figcaption>{html.escape(title)} (highest {top:g})</figcaption>"
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {chart_height + bottom}" '
        f'width="{width}" height="{chart_height + bottom}">{"".join(shapes)}</svg></figure>'
    )


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d")


def _every_day(report: Mapping[str, Any], day_seconds: float = 86400.0) -> list[tuple[str, float]]:
    """Messages per day over the whole period, days without any shown as 0."""
    counts = {int(d["day"] // day_seconds): d["messages"] for d in report["per_day"]}
    first, last = int(report["since"] // day_seconds), int(report["until"] // day_seconds)
    if last - first > 400:  # a long period: only the days with messages
        return [(_day(day * day_seconds), n) for day, n in sorted(counts.items())]
    return [(_day(day * day_seconds), counts.get(day, 0)) for day in range(first, last + 1)]


def report_html(report: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    """The report (``summary``'s figures, with ``since`` and ``until``) as one HTML page.
    ``titles``: the knowledge base's topic titles by id."""
    messages = int(report["messages"])
    routes = report["by_route"]
    share = [
        (OUTCOME_NAMES.get(name, name), round(100 * count / messages, 1) if messages else 0.0)
        for name, count in sorted(routes.items(), key=lambda item: -item[1])
    ]
    topics = sorted(
        ((titles.get(t, t), n) for t, n in report["by_topic"].items() if t in titles), key=lambda r: -r[1]
    )[:15]
    feedback = report["feedback"]
    helpful_rows = sorted(
        ((titles.get(t, t), v["helpful"], v["not_helpful"]) for t, v in feedback["by_topic"].items()),
        key=lambda r: -(r[1] + r[2]),
    )
    queue = report["review_queue"]
    tiles = [
        ("conversations", report["conversations"]),
        ("patient messages", messages),
        ("urgent replies (safety)", report["escalations"]),
        ("helpful", feedback["helpful"]),
        ("not helpful", feedback["not_helpful"]),
        ("waiting for review", queue["total"]),
    ]
    period = f"{_day(report['since'])} to {_day(report['until'])} (UTC)"
    body = [
        "<h1>Mesotherapy assistant: what patients asked</h1>",
        f"<p class=period>{html.escape(period)}</p>",
        '<div class="tiles">'
        + "".join(f"<div class=tile><b>{int(v):,}</b><span>{html.escape(k)}</span></div>" for k, v in tiles)
        + "</div>",
        _columns(_every_day(report), "Patient messages per day"),
        _bars(topics, "Top topics answered"),
        _bars(share, "How messages were answered (share of messages)", unit=" %"),
        _bars(sorted(report["by_channel"].items(), key=lambda r: -r[1]), "Messages by channel"),
        _bars([(t, h) for t, h, _ in helpful_rows], "Helpful, by topic", GOOD),
        _bars([(t, n) for t, _, n in helpful_rows], "Not helpful, by topic", BAD),
        _bars(
            [(REASON_NAMES.get(r, r), n) for r, n in sorted(queue["by_reason"].items(), key=lambda r: -r[1])],
            "Review queue, by reason",
        ),
    ]
    style = (
        "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:700px;color:#222}"
        "h1{font-size:1.4em}.period{color:#555}.tiles{display:flex;flex-wrap:wrap;gap:10px}"
        ".tile{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}"
        ".tile b{display:block;font-size:1.5em}.tile span{color:#555;font-size:.85em}"
        "figure{margin:28px 0}figcaption{font-weight:600;margin-bottom:6px}"
        "svg text{font-size:12px;fill:#222}.empty{color:#777}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Mesotherapy assistant report</title><style>{style}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def suggested_intent(
    reason: str, guesses: Sequence[str], topics: Mapping[str, Any], answered: str | None = None
) -> str:
    """The intent a queued message most likely belongs to, for the clinic to confirm: the
    bot's best guess at a topic (for an answer marked not helpful, the topic it answered
    when it had no other guess), else out of scope. A message judged out of scope is
    suggested as out of scope, its topic guesses kept in its metadata."""
    if reason != REVIEW_OUT_OF_SCOPE:
        for guess in [*guesses, *([answered] if answered else [])]:
            if guess in topics:
                return FAQ_INTENT_PREFIX + guess
    return "out_of_scope"


def review_yaml(items: Sequence[Mapping[str, Any]], topics: Mapping[str, Any]) -> str:
    """The review queue as Rasa NLU training data: one intent block per suggested intent,
    each message with its queue id, reason and the bot's guesses as metadata, for the clinic
    to correct and merge into data/nlu/ (docs/clinic-report.md)."""
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        intent = suggested_intent(str(item["reason"]), item["guesses"], topics, item.get("topic"))
        metadata: dict[str, Any] = {
            "review_id": int(item["id"]),
            "reason": str(item["reason"]),
            "guesses": list(item["guesses"]),
        }
        if item["reason"] == REVIEW_NOT_HELPFUL and item.get("topic"):
            metadata["answered"] = str(item["topic"])
        by_intent.setdefault(intent, []).append({"text": str(item["text"]), "metadata": metadata})
    data = {
        "version": "3.1",
        "nlu": [{"intent": intent, "examples": examples} for intent, examples in sorted(by_intent.items())],
    }
    header = (
        "# The review queue (make review): patients' messages the bot could not answer, judged\n"
        "# out of scope, or whose answer was marked not helpful, contact details redacted. Each\n"
        "# is under the intent the bot thought likeliest: move it to the right one, delete what\n"
        "# should not be learnt, and merge the rest into data/nlu/.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


_UNITS = {"h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_since(text: str, now: float) -> float:
    """The start of the report's period: ``30d`` (days), ``12h`` (hours), ``2w`` (weeks)
    before ``now``, or a date (``2026-11-01``, midnight UTC). A ValueError says what is
    accepted."""
    value = str(text).strip().lower()
    accepted = "a period like 30d, 12h or 2w, or a date like 2026-11-01"
    if len(value) >= 2 and value[-1] in _UNITS and value[:-1].isdigit():
        amount = int(value[:-1])
        if amount <= 0 or amount > 10_000:
            raise ValueError(f"SINCE must be {accepted}, between 1 and 10000 units; got {text!r}")
        return now - amount * _UNITS[value[-1]]
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"SINCE must be {accepted}; got {text!r}") from None
    if day.timestamp() > now:
        raise ValueError(f"SINCE {text!r} is in the future")
    return day.timestamp()
