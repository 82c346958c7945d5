"""The clinic's contact details (``data/clinic.yml``, or the file ``CLINIC_FILE`` names)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


# What each other served language (LANGUAGES) must say in its own words, in a block keyed by
# its code ("es:"); the rest (names, numbers, addresses) is the same in every language.
TRANSLATED_FIELDS = ("opening_hours",)
TRANSLATABLE_FIELDS = ("opening_hours", "clinic_name")

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
    # Each other served language's own words for some details, by language code.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def details_in(self, language: str | None) -> dict[str, str]:
        """The details as a patient writing in ``language`` reads them."""
        return {**self.details, **self.translations.get(language or "", {})}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def load_clinic(path: Path, languages: Sequence[str] | None = None) -> Clinic:
    """Read and check the clinic's details; raise naming every problem."""
    languages = tuple(languages or load_settings().languages)
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
    blocks = {key for key in data if isinstance(key, str) and len(key) == 2 and key.isalpha()}  # languages
    unknown = sorted(set(data) - set(CLINIC_FIELDS) - {"example", TIME_ZONE_FIELD} - blocks)
    translations: dict[str, dict[str, str]] = {}
    for language in languages[1:]:
        block = data.get(language)
        if not isinstance(block, dict):
            problems.append(
                f"{path}: needs an '{language}:' block with {', '.join(TRANSLATED_FIELDS)} "
                f"in that language (the bot serves {language}: LANGUAGES)"
            )
            continue
        problems += [
            f"{path}: '{language}: {name}' must be non-empty text"
            for name in TRANSLATED_FIELDS
            if not isinstance(block.get(name), str) or not block[name].strip()
        ]
        extra = sorted(set(block) - set(TRANSLATABLE_FIELDS))
        if extra:
            problems.append(
                f"{path}: '{language}:' may only hold {', '.join(TRANSLATABLE_FIELDS)}, "
                f"not {', '.join(extra)}"
            )
        translations[language] = {
            name: " ".join(str(block[name]).split())
            for name in TRANSLATABLE_FIELDS
            if isinstance(block.get(name), str)
        }
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
    return Clinic(
        details=details, example=data.get("example") is True, time_zone=str(zone), translations=translations
    )


@functools.lru_cache(maxsize=1)
def default_clinic() -> Clinic:
    return load_clinic(load_settings().clinic_file)
