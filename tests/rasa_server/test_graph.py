"""The prediction graph run without dask (rasa_server/graph.py): the same nodes, the same
inputs and the same outputs as Rasa's dask runner, in an order worked out once."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

from rasa_server import patches
from rasa_server.graph import SequentialGraphRunner, run_order

CALLS: list[str] = []


class Step(GraphComponent):
    """A node that records its run and joins its inputs' values with its own name."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> Step:
        return cls(resource.name)

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, **inputs: Any) -> str:
        CALLS.append(self.name)
        return "(" + " ".join([self.name, *(str(inputs[key]) for key in sorted(inputs))]) + ")"


def _node(name: str, needs: dict[str, str], target: bool = False) -> SchemaNode:
    return SchemaNode(
        needs=needs,
        uses=Step,
        constructor_name="create",
        fn="run",
        config={},
        eager=True,
        is_target=target,
        resource=Resource(name),
    )


SCHEMA = GraphSchema(
    {
        "tokens": _node("tokens", {"text": "__message__"}),
        "features": _node("features", {"a": "tokens", "b": "__message__"}),
        "intent": _node("intent", {"a": "features", "b": "tokens"}, target=True),
        "unused": _node("unused", {"a": "tokens"}),
        "policy": _node("policy", {"a": "intent", "b": "__tracker__"}, target=True),
    }
)


def _runner(cls: type[DaskGraphRunner], tmp_path: Any) -> DaskGraphRunner:
    storage = LocalModelStorage(tmp_path)
    return cls.create(SCHEMA, storage, ExecutionContext(SCHEMA, "model-id"))


def test_each_node_runs_after_what_it_needs_and_only_if_a_target_needs_it() -> None:
    order = [name for name, _ in run_order(SCHEMA, ["policy"])]
    assert order == ["tokens", "features", "intent", "policy"]
    order = [name for name, _ in run_order(SCHEMA, ["unused", "intent"])]
    assert order == ["tokens", "unused", "features", "intent"]


@pytest.mark.parametrize("targets", [None, ["intent"], ["unused", "policy"]])
def test_the_outputs_are_those_of_rasas_dask_runner(tmp_path: Any, targets: list[str] | None) -> None:
    inputs = {"__message__": "hi", "__tracker__": "t1"}
    CALLS.clear()
    expected = _runner(DaskGraphRunner, tmp_path / "dask").run(inputs, targets)
    dask_calls = sorted(CALLS)
    CALLS.clear()
    runner = _runner(SequentialGraphRunner, tmp_path / "plain")
    assert runner.run(inputs, targets) == expected
    assert sorted(CALLS) == dask_calls  # the same nodes, each once
    assert any("(intent (features (tokens hi) hi) (tokens hi))" in output for output in expected.values())


def test_the_order_is_worked_out_once_per_set_of_targets(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _runner(SequentialGraphRunner, tmp_path)
    worked_out: list[tuple[str, ...]] = []
    original = run_order

    def counting(schema: GraphSchema, targets: Any) -> Any:
        worked_out.append(tuple(targets))
        return original(schema, targets)

    monkeypatch.setattr("rasa_server.graph.run_order", counting)
    for _ in range(3):
        runner.run({"__message__": "hi", "__tracker__": "t"})
        runner.run({"__message__": "hi"}, ["intent"])
    assert worked_out == [("intent", "policy"), ("intent",)]


def test_an_input_named_like_a_node_is_refused_as_rasa_does(tmp_path: Any) -> None:
    with pytest.raises(GraphRunError, match="clashes"):
        _runner(SequentialGraphRunner, tmp_path).run({"__message__": "tokens"})


def test_apply_makes_the_processor_load_its_model_with_the_plain_runner() -> None:
    import rasa.core.processor

    patches.apply()
    assert rasa.core.processor.DaskGraphRunner is SequentialGraphRunner
