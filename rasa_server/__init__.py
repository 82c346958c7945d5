"""The Rasa server layer: Rasa 3.6.21 run with this project's stores, fault handling and fixes.

``python -m rasa_server run --model ...`` is ``rasa run --model ...`` with every patch of
:mod:`rasa_server.patches` applied first. The layer sits above the domain (``bot/``) and
below the tooling (``tooling/``); the channels, NLU components and actions sit beside it.
"""
