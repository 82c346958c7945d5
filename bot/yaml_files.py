"""Reading the project's YAML files, reporting a problem instead of raising, and the one
error every data loader raises with all the problems it found."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class InvalidData(ValueError):
    """A data file is invalid; ``problems`` lists every issue, each naming its file and entry.

    Each loader has its own subclass, whose ``summary`` opens the message.
    """

    summary = "the data is invalid"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{self.summary}:\n" + "\n".join(f"  - {p}" for p in self.problems))


def read_yaml(path: Path, problems: list[str]) -> Any:
    """The file's content, or None with the problem (naming the file) appended."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as error:
        problems.append(f"{path}: cannot be read ({error.strerror})")
    except yaml.YAMLError as error:
        problems.append(f"{path}: is not valid YAML ({error})")
    return None
