"""Every change this project makes to Rasa's or Sanic's own code, in one place.

Each patch replaces one function or method of a library, for a reason measured or seen on
this project, and was written against the versions in ``WRITTEN_FOR``. :func:`apply`
installs them all, once, before Rasa starts (``python -m rasa_server``); it logs a warning
when the installed versions differ, because each patch relies on the replaced function's
signature and behaviour at that version. ``tests/rasa_server/test_patches.py`` checks that
every target still exists and is replaced.

Each entry: what is replaced, by what, why, and what to check on an upgrade.

- ``jsonschema.validate`` → :func:`cached_validate`. Rasa validates every action server
  answer, NLG answer and posted event with it, and it checks the schema against the
  meta-schema and builds a new validator on every call: 11% of the Rasa server's busy time
  under load with jsonschema 3.2 (``make bench`` profile), about 40% with 4.17. The schemas
  are constants, so each is checked and built once; every message is still validated in
  full, and a bad one raises the same ``ValidationError``. Check: Rasa still calls
  ``jsonschema.validate(instance, schema)``.
- ``Event.resolve_by_type`` (Rasa) → :func:`cached_resolve_by_type`. Rasa finds the class of
  every event it reads by walking all of ``Event``'s subclasses, recursively, each time:
  about 0.03 ms per event, nine tenths of reading back a stored conversation of 35 events.
  The class found for a name is kept; unknown names still go through Rasa's lookup. Check:
  the signature ``(type_name, default=None)``.
- ``sanic.app.serve_multiple`` (Sanic 21.12) → ``workers.serve_multiple_reuse_port``. Each
  worker binds its own SO_REUSEPORT socket, so the kernel spreads connections across the
  workers (with Sanic's one shared socket, one worker took a whole burst), and the server
  says when every worker listens (``BOT_READY_FILE``). Check: ``serve_multiple(server_settings,
  workers)`` and the keys of its settings.
- ``sanic.app.serve_single`` (Sanic 21.12) → ``workers.serve_single_announcing``: the
  one-worker server says when it listens, as above. Check: ``serve_single(server_settings)``.
- ``rasa.core.run.serve_application`` (Rasa) → ``preload.sharing_encoders`` around it. Before
  Rasa starts the workers, the main process loads the sentence embedding the served model's
  topic reader uses, so the forked workers share one copy of its weights instead of loading
  one each (``rasa_server/preload.py``). Check: ``serve_application(model_path, ...,
  remote_storage=...)``, called through the module (``rasa/api.py``), and that Rasa picks its
  arguments by the signature (``functools.wraps`` keeps it).
- ``RemoteAction.run`` (Rasa) → ``faults.run_or_answer_by_itself``. Rasa waits up to 5
  minutes for the action server, then says nothing to the patient; here the call gets
  ``ACTION_TIMEOUT_SECONDS``, and a failure gets the ``unavailable`` reply (the urgent reply
  for a red flag). Check: ``RemoteAction.run(output_channel, nlg, tracker, domain)``.
- ``Agent._create_tracker_store`` (Rasa) → ``faults.tracker_store_as_it_is``. Rasa wraps every
  tracker store in ``FailSafeTrackerStore``, which silently starts a new conversation, or
  keeps it in one process's memory, when the database fails; here the store is used as it
  is, so a failure is reported (``StoreUnavailable``). Check: a static method taking
  ``(store, domain)``.

- ``rasa.core.processor.DaskGraphRunner`` (Rasa) → ``graph.SequentialGraphRunner``. The
  served model's graph runs node by node in an order worked out once, instead of through
  dask, which worked out the needed nodes and their order again for every message (about 3%
  of the busy time; ``rasa_server/graph.py``). Check: the processor loads its model with
  ``loader.load_predict_graph_runner(..., DaskGraphRunner)`` named in its module, and
  ``GraphNode.__call__`` takes its parents' ``(name, output)`` pairs.
- ``EndpointConfig.session`` (Rasa) → ``http_sessions.kept_session``, and Rasa's
  ``rasa.core.run.close_resources`` → ``http_sessions.closing_sessions`` around it. Rasa made
  a new HTTP session, so a new connection to the action server, for every call (about 5% of
  the busy time); now each worker keeps one session per endpoint, whose connections are
  reused, and closes it when the server stops (``rasa_server/http_sessions.py``). Check:
  ``EndpointConfig.request`` uses ``async with self.session() as session``, and
  ``serve_application`` registers ``close_resources`` by its module-level name.
- ``MessageProcessor.parse_message`` (Rasa) → :func:`parse_in_context`. Rasa's NLU sees one
  message alone; the topic reader (components/topic_reader.py) reads a follow-up ("how
  long do they last?") in the light of the topic just answered. Before parsing, the topic
  the actions left in the conversation's ``last_topic`` slot, if it was answered within the
  last ``CONTEXT_SECONDS``, goes into the message's metadata (``previous_topic``); a value a
  client sent there is dropped. Check: ``parse_message(message, tracker,
  only_output_properties)`` and that Rasa passes ``message.metadata`` to the NLU.

- ``rasa.core.test._predict_tracker_actions`` (Rasa) → :func:`predict_stories_in_context`.
  ``rasa test core --e2e`` parses each user message of a test story without its
  conversation, so a follow-up would be read alone there. Here each message is parsed with
  the story's events before it, as the server parses a conversation (``python -m
  rasa_server test core`` applies the patches; ``make test`` runs the stories so). Check:
  the function's signature ``(tracker, agent, fail_on_prediction_errors, use_e2e)`` and
  that it calls ``processor.parse_message(UserMessage(text))``.

Fixes made by subclassing, not by patching (each is a channel or store that
``credentials.yml`` or ``endpoints.yml`` names, so it is visible where it is configured):
``channels/socketio.py`` awaits python-socketio's ``enter_room`` (a coroutine since 5.10,
never awaited by Rasa 3.6.21, so session persistence lost every reply), ``channels/rest.py``
ends a streamed reply when the bot fails (Rasa's stream waited forever), and
``rasa_server/stores.py`` reads a conversation with one query, writes it with ujson in
one transaction with the clinic's record of the turn, and never falls back to memory.
"""

from __future__ import annotations

import json
import logging
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

import jsonschema
import rasa.core.processor
import rasa.core.run
import rasa.core.test
import sanic.app
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.conversation import (
    CONTEXT_SECONDS,
    CONVERSATION_LANGUAGE_KEY,
    LAST_TOPIC_SLOT,
    PREVIOUS_TOPIC_KEY,
    conversation_language,
)
from rasa_server import faults, http_sessions, preload, workers
from rasa_server.graph import SequentialGraphRunner

# The versions the patches were written and tested against (requirements/runtime.lock).
WRITTEN_FOR = {"rasa": "3.6.21", "sanic": "21.12.2", "jsonschema": "3.2.0"}

logger = logging.getLogger(__name__)

_ORIGINAL_VALIDATE = jsonschema.validate
_ORIGINAL_RESOLVE_BY_TYPE = Event.resolve_by_type
_ORIGINAL_PARSE_MESSAGE = MessageProcessor.parse_message
_ORIGINAL_PREDICT_STORY = rasa.core.test._predict_tracker_actions
_validators: dict[str, Any] = {}
_event_classes: dict[str, type[Event]] = {}


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


def cached_resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """``Event.resolve_by_type`` remembering the class found for each name."""
    found = _event_classes.get(type_name)
    if found is not None:
        return found
    try:
        found = cast("type[Event] | None", _ORIGINAL_RESOLVE_BY_TYPE(type_name))
    except ValueError:  # not an event name: Rasa's answer (the default, or the error)
        return cast("type[Event] | None", _ORIGINAL_RESOLVE_BY_TYPE(type_name, default))
    if found is not None:
        _event_classes[type_name] = found
    return found


def previous_topic(tracker: DialogueStateTracker | None, now: float) -> str | None:
    """The topic just answered in this conversation, unless its last message is too old."""
    if tracker is None:
        return None
    topic = tracker.get_slot(LAST_TOPIC_SLOT)
    if not isinstance(topic, str) or not topic:
        return None
    last = next((e for e in reversed(tracker.events) if isinstance(e, UserUttered)), None)
    if last is None or now - float(last.timestamp or 0) > CONTEXT_SECONDS:
        return None
    return topic


async def parse_in_context(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker | None = None,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    """Rasa's ``parse_message`` with the conversation's previous topic and language in the
    metadata (a client's own values for them are dropped)."""
    ours = (PREVIOUS_TOPIC_KEY, CONVERSATION_LANGUAGE_KEY)
    metadata = {k: v for k, v in (message.metadata or {}).items() if k not in ours}
    topic = previous_topic(tracker, time.time())
    if topic is not None:
        metadata[PREVIOUS_TOPIC_KEY] = topic
    language = (
        conversation_language(e.parse_data for e in reversed(tracker.events) if isinstance(e, UserUttered))
        if tracker is not None
        else None
    )
    if language is not None:
        metadata[CONVERSATION_LANGUAGE_KEY] = language
    message.metadata = metadata or (message.metadata and metadata)
    parsed: dict[str, Any] = await _ORIGINAL_PARSE_MESSAGE(self, message, tracker, only_output_properties)
    return parsed


async def predict_stories_in_context(
    tracker: DialogueStateTracker, agent: Agent, *args: Any, **kwargs: Any
) -> Any:
    """Rasa's prediction of a test story, each user message parsed in its conversation."""
    processor = agent.processor
    if processor is None:
        return await _ORIGINAL_PREDICT_STORY(tracker, agent, *args, **kwargs)
    events = list(tracker.events)
    slots = agent.domain.slots if agent.domain is not None else []
    parsed: set[int] = set()

    async def parse_in_story(
        message: UserMessage,
        conversation: DialogueStateTracker | None = None,
        only_output_properties: bool = True,
    ) -> dict[str, Any]:
        if conversation is None:
            index = next(
                (
                    i
                    for i, event in enumerate(events)
                    if i not in parsed and isinstance(event, UserUttered) and event.text == message.text
                ),
                None,
            )
            if index is not None:
                parsed.add(index)
                conversation = DialogueStateTracker.from_events(tracker.sender_id, events[:index], slots)
        return await parse_in_context(processor, message, conversation, only_output_properties)

    processor.parse_message = parse_in_story
    try:
        return await _ORIGINAL_PREDICT_STORY(tracker, agent, *args, **kwargs)
    finally:
        del processor.parse_message


def version_differences() -> list[str]:
    """The patched libraries whose installed version is not the one the patches were written for."""
    differences = []
    for package, written_for in WRITTEN_FOR.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != written_for:
            differences.append(f"{package} {installed} (written for {written_for})")
    return differences


async def _run_remote_action(self: RemoteAction, *args: Any) -> list[Event]:
    return await faults.run_or_answer_by_itself(self, *args)


# Rasa's own, captured once: ``apply`` may run again and must not wrap its own wrapper.
_ORIGINAL_SERVE_APPLICATION = rasa.core.run.serve_application
_ORIGINAL_CLOSE_RESOURCES = rasa.core.run.close_resources
_ORIGINAL_SESSION = EndpointConfig.session


def apply() -> None:
    """Install every patch in this process (again, if called again). The fault replies'
    files are read now, so a broken one stops the server at start-up, not a patient later."""
    differences = version_differences()
    if differences:
        logger.warning(
            "The patches to Rasa and Sanic (rasa_server/patches.py) were written for other versions: %s. "
            "Check each patch against the installed code.",
            "; ".join(differences),
        )
    faults.load_replies()
    jsonschema.validate = cached_validate
    Event.resolve_by_type = staticmethod(cached_resolve_by_type)
    sanic.app.serve_multiple = workers.serve_multiple_reuse_port
    sanic.app.serve_single = workers.serve_single_announcing
    rasa.core.run.serve_application = preload.sharing_encoders(_ORIGINAL_SERVE_APPLICATION)
    RemoteAction.run = _run_remote_action
    Agent._create_tracker_store = staticmethod(faults.tracker_store_as_it_is)
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner
    EndpointConfig.session = http_sessions.kept_session
    rasa.core.run.close_resources = http_sessions.closing_sessions(_ORIGINAL_CLOSE_RESOURCES)
    MessageProcessor.parse_message = parse_in_context
    rasa.core.test._predict_tracker_actions = predict_stories_in_context
