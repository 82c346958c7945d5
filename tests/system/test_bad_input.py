"""Bad input against the real bot (docs/bad-input.md): the conversation stays usable and
the servers never fail.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from tests.channels.rest_requests import (
    BAD_REQUESTS,
    PATIENT_MESSAGES,
    REQUESTS,
    Case,
    assert_refused,
    check_answer,
    message_case,
    send,
)
from tooling.servers import DEFAULT_MODEL, BotAddress, free_port, running_bot

NORMAL_QUESTION = "how much does mesotherapy cost?"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotAddress]:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SANIC_WORKERS", "1")  # one worker: bad input must not take the only one down
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with running_bot(address, log_dir=tmp_path_factory.mktemp("bad-input-logs")) as running:
            yield running


def answer_topic(bot: BotAddress, sender: str, text: str = NORMAL_QUESTION) -> str | None:
    response = requests.post(bot.rest_url, json={"sender": sender, "message": text}, timeout=60)
    response.raise_for_status()
    [custom] = [reply["custom"]["data"] for reply in response.json() if "custom" in reply]
    topic: str | None = custom["topic"]
    return topic


@pytest.mark.e2e
@pytest.mark.parametrize("kind", [*BAD_REQUESTS, *PATIENT_MESSAGES])
def test_bad_input_leaves_the_conversation_usable(bot: BotAddress, kind: str) -> None:
    """Each kind of bad input from one patient, then that patient's normal question."""
    sender = f"patient-{uuid.uuid4()}"
    url = bot.rest_url.removesuffix("/webhook")
    if kind in BAD_REQUESTS:  # their sender, where they have one, is "patient-x"
        case, reason = BAD_REQUESTS[kind]
        assert_refused(send(url, case), case, reason)
        assert answer_topic(bot, "patient-x") == "cost"
    else:
        case = message_case(sender, PATIENT_MESSAGES[kind])
        check_answer(send(url, case, timeout=60), case)
    assert answer_topic(bot, sender) == "cost"


@pytest.mark.e2e
def test_generated_requests_never_fail_the_bot(bot: BotAddress) -> None:
    """Hypothesis drives the real REST channel; then the fuzzed conversations go on."""
    url = bot.rest_url.removesuffix("/webhook")

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=REQUESTS)
    def request_is_answered(case: Case) -> None:
        try:
            response = send(url, case, timeout=60)
        except requests.RequestException as error:  # a hang, or the server gone
            raise AssertionError(f"no answer: {error}") from error
        check_answer(response, case)

    request_is_answered()
    assert requests.get(f"{bot.rasa_url}/", timeout=10).status_code == 200
    for sender in ("fuzz-patient-1", "fuzz-patient-2", "fuzz patient 3 ✓"):
        assert answer_topic(bot, sender) == "cost"


@pytest.mark.e2e
def test_bad_requests_alongside_a_patient_do_not_stop_the_patients_answers(bot: BotAddress) -> None:
    """Huge and malformed requests sent at the same time as a patient's conversation."""
    url = bot.rest_url.removesuffix("/webhook")
    heavy = [
        BAD_REQUESTS[kind][0] for kind in ("huge body", "huge metadata", "deep nesting", "malformed JSON")
    ]
    heavy += [message_case("patient-long", PATIENT_MESSAGES["20,000 characters"])] * 4
    sender = f"patient-{uuid.uuid4()}"

    def patient() -> list[str | None]:
        return [answer_topic(bot, sender), answer_topic(bot, sender, "does it hurt?")]

    def bad(case: Case) -> int:
        return send(url, case, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = pool.map(bad, heavy * 2)
        topics = pool.submit(patient)
        assert sorted(set(statuses)) == [200, 400, 413]
        assert topics.result() == ["cost", "pain"]
