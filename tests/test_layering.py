"""The packages' layering (docs/architecture.md): no module imports a layer above its own.

From the bottom: ``bot/`` (the domain) imports no framework and no sibling package; the
Rasa server layer (``rasa_server/``), the channels, the NLU components and the actions sit
on it; ``tooling/`` sits on everything and nothing imports it. Every import counts, at the
top of a module or inside a function.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR

PACKAGES = ("bot", "rasa_server", "channels", "components", "actions", "tooling")
FRAMEWORKS = ("rasa", "rasa_sdk", "sanic", "socketio")
# What only the tooling may load: a server never imports benchmark, plotting or evaluation code.
TOOLING_ONLY = ("aiohttp", "matplotlib", "rank_bm25", "tooling")


@dataclass(frozen=True)
class Layer:
    package: str
    may_not_import: tuple[str, ...]


LAYERS = (
    Layer("bot", (*FRAMEWORKS, *PACKAGES[1:], *TOOLING_ONLY)),
    # The Rasa server layer: stores, faults, patches, workers. The channels sit above it. It
    # may use aiohttp, the HTTP client Rasa calls the action server with, to keep that
    # client's sessions (rasa_server/http_sessions.py).
    Layer(
        "rasa_server",
        ("rasa_sdk", "channels", "components", "actions", *(m for m in TOOLING_ONLY if m != "aiohttp")),
    ),
    Layer("channels", ("rasa_sdk", "components", "actions", *TOOLING_ONLY)),
    Layer(
        "components", ("rasa_sdk", "sanic", "socketio", "rasa_server", "channels", "actions", *TOOLING_ONLY)
    ),
    # The action server runs the Rasa SDK only: never Rasa itself nor the server layer.
    Layer("actions", ("rasa", "sanic", "socketio", "rasa_server", "channels", "components", *TOOLING_ONLY)),
)


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports, wherever the import statement is."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def violations(package_dir: Path, layer: Layer) -> list[str]:
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            if top in layer.may_not_import:
                found.append(f"{path.relative_to(package_dir.parent)} imports {module}")
    return found


@pytest.mark.parametrize("layer", LAYERS, ids=[layer.package for layer in LAYERS])
def test_no_module_imports_a_layer_above_its_own(layer: Layer) -> None:
    assert violations(PROJECT_DIR / layer.package, layer) == []


def test_every_package_is_placed_in_a_layer() -> None:
    on_disk = {p.parent.name for p in PROJECT_DIR.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(PACKAGES)
    assert {layer.package for layer in LAYERS} == set(PACKAGES) - {"tooling"}


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "bot"
    package.mkdir()
    (package / "answers.py").write_text("import json\n\ndef f():\n    from tooling.cli import main\n")
    (package / "knowledge.py").write_text("from rasa.core.agent import Agent\nfrom bot import answers\n")
    assert violations(package, LAYERS[0]) == [
        "bot/answers.py imports tooling.cli",
        "bot/knowledge.py imports rasa.core.agent",
    ]
