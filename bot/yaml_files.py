"""Reading the project's YAML files, reporting a problem instead of raising."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


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
