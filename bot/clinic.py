"""The clinic's contact details (``data/clinic.yml``, or the file ``CLINIC_FILE`` names)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.settings import load_settings
from bot.yaml_files import InvalidData, read_yaml

# The placeholders a reply may use, e.g. "call {clinic_name} on {clinic_phone}".
CLINIC_FIELDS = (
    "clinic_name",
    "clinic_phone",
    "clinic_email",
    "booking_url",
    "opening_hours",
    "emergency_number",
)


class ClinicError(InvalidData):
    """The clinic's details are invalid."""

    summary = "clinic details are invalid"


# Where the clinic is: the time zone the messaging apps' patients are answered in (an IANA
# name such as America/New_York); the widget sends each patient's own.
TIME_ZONE_FIELD = "time_zone"


def time_zone(name: object) -> ZoneInfo | None:
    """The IANA time zone ``name`` names ("America/New_York"), or None."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Clinic:
    details: Mapping[str, str]
    # True while the file still holds the shipped example values.
    example: bool = False
    time_zone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def load_clinic(path: Path) -> Clinic:
    """Read and check the clinic's details; raise naming every problem."""
    problems: list[str] = []
    data = read_yaml(path, problems)
    if problems:
        raise ClinicError(problems)
    if not isinstance(data, dict):
        raise ClinicError([f"{path}: must be a mapping of {', '.join(CLINIC_FIELDS)}"])
    problems += [
        f"{path}: '{name}' must be non-empty text (quote numbers)"
        for name in CLINIC_FIELDS
        if not isinstance(data.get(name), str) or not data[name].strip()
    ]
    unknown = sorted(set(data) - set(CLINIC_FIELDS) - {"example", TIME_ZONE_FIELD})
    zone = data.get(TIME_ZONE_FIELD)
    if time_zone(zone) is None:
        problems.append(
            f"{path}: '{TIME_ZONE_FIELD}' must be a time zone name such as America/New_York, not {zone!r}"
        )
    if unknown:
        problems.append(f"{path}: unknown fields {', '.join(unknown)}")
    url = data.get("booking_url")
    if isinstance(url, str) and not url.startswith(("https://", "http://")):
        problems.append(f"{path}: 'booking_url' must be a web address starting with https://")
    if problems:
        raise ClinicError(problems)
    details = {name: " ".join(data[name].split()) for name in CLINIC_FIELDS}
    return Clinic(details=details, example=data.get("example") is True, time_zone=str(zone))


@functools.lru_cache(maxsize=1)
def default_clinic() -> Clinic:
    return load_clinic(load_settings().clinic_file)
