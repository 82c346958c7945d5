"""Reads the intents and their examples from Rasa's YAML NLU files (``data/nlu/*.yml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.yaml_files import read_yaml


def _examples(block: Any) -> list[str]:
    if not isinstance(block, str):
        return []
    examples = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("- "):
            examples.append(line[2:].strip())
    return examples


def read_intent_examples(nlu_dir: Path, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """Map every intent in ``nlu_dir`` to its examples; problems are appended, not raised."""
    found: dict[str, list[str]] = {}
    paths = sorted(nlu_dir.glob("*.yml"))
    if not paths:
        problems.append(f"{nlu_dir}: no NLU files found")
    for path in paths:
        reported = len(problems)
        data = read_yaml(path, problems)
        if len(problems) > reported:
            continue
        entries = data.get("nlu") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            problems.append(f"{path}: needs an 'nlu' list")
            continue
        for entry in entries:
            if isinstance(entry, dict) and "intent" in entry:
                found.setdefault(str(entry["intent"]), []).extend(_examples(entry.get("examples")))
    return {intent: tuple(examples) for intent, examples in found.items()}
