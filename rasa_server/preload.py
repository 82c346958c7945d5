"""What the Rasa server loads once, before it starts its worker processes.

Each worker loads the model for itself after it starts (Rasa's ``load_agent_on_start``),
so each would hold its own copy of the sentence-embedding networks. The topic reader takes
its encoder from ``bot.embedding.shared_encoder`` instead, and this module loads the
encoders the served model's topic reader names in the main process, before the workers are
forked: the workers inherit one copy of the weights (copy-on-write; inference only reads
them). Less memory, and faster: the weights of one copy stay in the CPU cache that both
cores share (`make bench`, docs/quality-and-speed.md).

Nothing here is needed for correctness. A model that cannot be read here (a remote model,
an archive without a topic reader) is logged and left to the workers, which load their own.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.model import get_local_model

from bot.embedding import shared_encoder

logger = logging.getLogger("rasa_server")  # not __main__ when run with -m
READER_CLASS = "TopicReader"


def reader_models(archive: Path) -> list[str]:
    """The embedding settings of the topic readers in a trained model's archive."""
    metadata = LocalModelStorage.metadata_from_archive(archive)
    settings = {
        str(node.config["model"])
        for node in metadata.predict_schema.nodes.values()
        if node.uses.__name__ == READER_CLASS and "model" in node.config
    }
    return sorted(settings)


def share_encoders(
    model_path: str | None, remote_storage: str | None, load: Callable[[str], object] = shared_encoder
) -> list[str]:
    """Load, in this (the main) process, the encoders of the model Rasa is about to serve:
    ``model_path`` as given to ``rasa run`` (a file, or a directory whose newest model Rasa
    takes). Returns the settings loaded; none for a model from remote storage."""
    if remote_storage:
        return []
    # One text at a time: the tokenizer needs no thread pool, and a pool started before a
    # fork would be switched off in each worker, with a warning.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        archive = Path(get_local_model(model_path or "models"))
        loaded = []
        for setting in reader_models(archive):
            load(setting)
            loaded.append(setting)
    except Exception as error:
        logger.warning(
            "The sentence embedding could not be loaded before the workers start (%s); each "
            "worker loads its own copy.",
            error,
        )
        return []
    if loaded:
        logger.info("Loaded %s once, before the workers start: they share it.", ", ".join(loaded))
    return loaded


def sharing_encoders(serve_application: Callable[..., None]) -> Callable[..., None]:
    """Rasa's ``serve_application``, which starts the workers, preceded by ``share_encoders``
    (``functools.wraps`` keeps its signature, by which Rasa picks the arguments it passes)."""

    @functools.wraps(serve_application)
    def serve(model_path: str | None = None, *args: Any, **kwargs: Any) -> None:
        share_encoders(model_path, kwargs.get("remote_storage"))
        serve_application(model_path, *args, **kwargs)

    return serve
