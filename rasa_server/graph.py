"""Rasa's prediction graph run node by node, without dask.

Rasa runs the NLU pipeline and the policies of every message as a dask graph
(``DaskGraphRunner``): on each call it works out again which nodes the targets need
(``GraphSchema.minimal_graph_schema``), builds a dask graph of them and lets dask order and
run it on one thread. The graph and its targets never change while a model is served, so
``SequentialGraphRunner`` works out the order once per set of targets and calls the same
nodes, with the same inputs, in that order. About 3% of the Rasa server's busy time under
load went to that bookkeeping (`make bench` profile, docs/quality-and-speed.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

# A node to run: its name and the names of the nodes (or inputs) it needs, in order.
_Step = tuple[str, tuple[str, ...]]


def run_order(schema: GraphSchema, targets: Sequence[str]) -> list[_Step]:
    """The nodes ``targets`` need, each after everything it needs (depth first, in the
    order the schema lists each node's needs); a name that is not a node is an input."""
    order: list[_Step] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name not in schema.nodes:
            return
        if name in visiting:
            raise GraphRunError(f"The graph has a cycle through node '{name}'.")
        visiting.add(name)
        needs = tuple(schema.nodes[name].needs.values())
        for need in needs:
            visit(need)
        visiting.discard(name)
        done.add(name)
        order.append((name, needs))

    for target in targets:
        visit(target)
    return order


class SequentialGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner`` with its ``run`` done in a plain loop over a cached order.

    The nodes are Rasa's own ``GraphNode``s, built by the parent class; each gets its
    parents' outputs as the dask runner gives them, ``(node name, output)`` pairs, and an
    input ``(input name, value)``. A need that is neither is passed as its bare name, as
    dask does, and the node reports it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._orders: dict[tuple[str, ...], list[_Step]] = {}

    def run(self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        order = self._orders.get(run_targets)
        if order is None:
            order = self._orders[run_targets] = run_order(self._graph_schema, run_targets)
        values: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the "
                    f"input names passed to the `run` method are the same as node names in the "
                    f"graph schema."
                )
            values[name] = (name, value)
        try:
            for name, needs in order:
                values[name] = self._instantiated_nodes[name](*(values.get(need, need) for need in needs))
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(values[target] for target in run_targets if target in values)
