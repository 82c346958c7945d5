"""Rasa input channels of this project, named by module path in credentials.yml."""
