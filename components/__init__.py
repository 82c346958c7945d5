"""Custom Rasa NLU graph components (framework code, kept out of ``bot/``)."""
