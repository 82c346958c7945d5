"""What a patient might write that no log may keep: a sentence no server has any reason to
log, a phone number and an e-mail address (tests/bot/test_log_redaction.py and the servers'
logs in tests/system/test_security.py)."""

SENTENCE = "Zebra orchids whisper beside the mauve lanterns"
PHONE = "+44 7700 900123"
EMAIL = "anna.patient@example.org"
PRIVATE = f"{SENTENCE}; call me on {PHONE} or write to {EMAIL}"
NEVER_LOGGED = (
    SENTENCE,
    "Zebra orchids",
    "mauve lanterns",
    "7700 900123",
    "7700900123",
    EMAIL,
    "anna.patient",
)
