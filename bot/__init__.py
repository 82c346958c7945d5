"""The mesotherapy FAQ bot's domain logic, importable without a running Rasa server."""
