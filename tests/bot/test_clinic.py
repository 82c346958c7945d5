"""The clinic's contact details (bot/clinic.py): every field required, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.clinic import CLINIC_FIELDS, ClinicError, load_clinic
from bot.settings import PROJECT_DIR

GOOD = {
    "clinic_name": "Riverside  Dermatology",
    "clinic_phone": "+1 555 0199",
    "clinic_email": "desk@riverside.example",
    "booking_url": "https://riverside.example/book",
    "opening_hours": "Monday to Friday,\n9 am to 6 pm",
    "emergency_number": "911",
    "time_zone": "America/Chicago",
    "es": {"opening_hours": "de lunes a viernes, de 9 a. m. a 6 p. m."},
}


def _file(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_the_shipped_example_loads_and_says_it_is_the_example() -> None:
    clinic = load_clinic(PROJECT_DIR / "data" / "clinic.yml")
    assert set(clinic.details) == set(CLINIC_FIELDS) and clinic.example is True


def test_a_clinics_own_file_loads_with_whitespace_tidied(tmp_path: Path) -> None:
    clinic = load_clinic(_file(tmp_path, GOOD))
    assert clinic.example is False
    assert clinic.details["clinic_name"] == "Riverside Dermatology"
    assert clinic.details["opening_hours"] == "Monday to Friday, 9 am to 6 pm"
    assert clinic.zone.key == "America/Chicago"


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    data = {**GOOD, "clinic_phone": 5550199, "booking_url": "riverside.example/book", "fax": "x"}
    data["time_zone"] = "Riverside/Nowhere"
    del data["emergency_number"]
    with pytest.raises(ClinicError) as raised:
        load_clinic(_file(tmp_path, data))
    problems = raised.value.problems
    assert len(problems) == 5
    assert any("'time_zone' must be a time zone name" in p for p in problems)
    assert any("'clinic_phone' must be non-empty text (quote numbers)" in p for p in problems)
    assert any("'emergency_number'" in p for p in problems)
    assert any("unknown fields fax" in p for p in problems)
    assert any("'booking_url' must be a web address" in p for p in problems)
    assert str(raised.value).startswith("clinic details are invalid:")


@pytest.mark.parametrize(
    ("content", "problem"), [("- a list", "must be a mapping"), ("a: [", "not valid YAML")]
)
def test_a_file_that_is_no_mapping_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    with pytest.raises(ClinicError, match=problem):
        load_clinic(_file(tmp_path, content))


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ClinicError, match="cannot be read"):
        load_clinic(tmp_path / "nowhere.yml")


def test_each_served_language_has_its_own_opening_hours(tmp_path: Path) -> None:
    clinic = load_clinic(_file(tmp_path, GOOD), ("en", "es"))
    assert clinic.details_in("es")["opening_hours"].startswith("de lunes a viernes")
    assert clinic.details_in("es")["clinic_phone"] == clinic.details["clinic_phone"]
    assert clinic.details_in("en") == clinic.details
    english_only = {k: v for k, v in GOOD.items() if k != "es"}
    with pytest.raises(ClinicError, match="needs an 'es:' block with opening_hours"):
        load_clinic(_file(tmp_path, english_only), ("en", "es"))
    assert load_clinic(_file(tmp_path, english_only), ("en",)).details_in("es") == clinic.details
