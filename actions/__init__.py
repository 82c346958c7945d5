"""Rasa SDK actions: thin adapters over the ``bot`` package."""
