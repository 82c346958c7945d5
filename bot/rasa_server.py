"""Runs Rasa's own command line with this project's fixes to Rasa 3.6.21 applied first.

``python -m bot.rasa_server run --model ...`` is ``rasa run --model ...`` plus:

- **JSON-schema validators are built once per schema.** Rasa checks every action server
  answer (and every NLG answer, and events posted to its API) with ``jsonschema.validate``,
  which first checks the *schema* against the JSON-schema meta-schema, then builds a new
  validator, on every call. The schemas are constants in Rasa's code, so the check and the
  build are done once per distinct schema and the validator kept; the message is still
  validated in full every time, and a bad one raises the same ``ValidationError``. Under
  load this was 11% of the Rasa server's busy time with jsonschema 3.2 (`make bench`,
  profile), and about 40% with 4.17.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

_ORIGINAL_VALIDATE = jsonschema.validate
_validators: dict[str, Any] = {}


def cached_validate(instance: Any, schema: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema checked and its validator built once."""
    if args or kwargs:  # a caller choosing its own validator class or options: no cache
        _ORIGINAL_VALIDATE(instance, schema, *args, **kwargs)
        return
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _validators.get(key)
    if validator is None:
        cls = validator_for(schema)
        cls.check_schema(schema)
        validator = _validators[key] = cls(schema)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def apply() -> None:
    """Install the fixes in this process (idempotent)."""
    jsonschema.validate = cached_validate


def main() -> None:
    apply()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
