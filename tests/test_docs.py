"""Every link and every path the README and docs/ name exists.

For README.md and each docs/*.md:

- every relative Markdown link or image (``[text](target)``, ``![alt](target)``) points at a
  file or directory of the project, and its ``#anchor``, on a Markdown page, at one of that
  page's headings (as GitHub names them); http(s) and mailto links are not followed;
- every backticked repository path exists: a code span without spaces that starts with one
  of the project's top-level directories and ``/`` (``bot/stores.py``, ``tests/system/``,
  ``web/``), or is one of its top-level files (``Makefile``, ``credentials.yml``). A span
  with a placeholder (``data/faq/topics/<id>.yml``) needs the directory before it, one with
  a wildcard (``requirements/*.lock``) a match. What is made at run time (``models/``,
  ``results/``, ``var/``, ``.venv``) may be named before it exists.

Commands, settings and URLs are not paths: ``make run``, ``BIND_ADDRESS``,
``/webchat/words.json`` and ``http://localhost:5005/`` start with no project directory.
Fenced code blocks are left out (their commands and output are not links).

The project's own files that point into docs/ (the widget, ``credentials.yml``, code
comments) must name pages that exist too.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR

README = PROJECT_DIR / "README.md"
DOCS = PROJECT_DIR / "docs"
# The project's top-level directories, named here so that a page naming one that was
# removed is still checked; any other directory on disk counts too (``top_level_dirs``).
KNOWN_DIRS = (
    ".ci",
    "actions",
    "bench",
    "bot",
    "channels",
    "components",
    "data",
    "deploy",
    "docs",
    "rasa_server",
    "requirements",
    "scripts",
    "tests",
    "tooling",
    "web",
)
TOP_LEVEL_FILES = (
    "Makefile",
    "README.md",
    "config.yml",
    "credentials.yml",
    "domain.yml",
    "endpoints.yml",
    "logging.yml",
    "pyproject.toml",
)
# Made at run time (training, results, the servers' data, virtual environments): a page
# may name them before they exist.
MADE_AT_RUN_TIME = ("models", "results", "var", ".venv")
# Files outside docs/ that point readers at a docs page.
POINTING_AT_DOCS = ("web/widget.js", "web/index.html", "credentials.yml")

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
DOCS_REFERENCE = re.compile(r"\bdocs/[\w.-]+\.(?:md|png)\b")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def without_fences(markdown: str) -> str:
    return FENCE.sub("", markdown)


def links(markdown: str) -> list[str]:
    """The targets of the page's Markdown links and images, outside code."""
    prose = CODE_SPAN.sub("", without_fences(markdown))
    return LINK.findall(prose)


def code_spans(markdown: str) -> list[str]:
    return [span.strip() for _, span in CODE_SPAN.findall(without_fences(markdown))]


def top_level_dirs(root: Path) -> set[str]:
    on_disk = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return (on_disk | set(KNOWN_DIRS)) - {"__pycache__"}


def repository_path(span: str, root: Path) -> str | None:
    """``span`` when it names a file or directory of the project, else None."""
    if not span or any(char.isspace() for char in span):
        return None
    if span in TOP_LEVEL_FILES:
        return span
    first = span.split("/", 1)[0]
    if "/" in span and (first in top_level_dirs(root) or first in MADE_AT_RUN_TIME):
        return span
    return None


def made_at_run_time(path: str) -> bool:
    first = path.split("/", 1)[0]
    return first in MADE_AT_RUN_TIME or first.startswith(".venv")


def path_exists(path: str, root: Path) -> bool:
    if made_at_run_time(path):
        return True
    placeholder = re.search(r"[<{]", path)
    if placeholder:  # data/faq/topics/<id>.yml: the directory before the placeholder
        path = path[: placeholder.start()].rsplit("/", 1)[0] + "/"
    if any(char in path for char in "*?["):
        return any(root.glob(path.rstrip("/")))
    return (root / path).exists()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(without_fences(markdown)):
        anchor = github_anchor(heading)
        number, unique = 0, anchor
        while unique in found:
            number += 1
            unique = f"{anchor}-{number}"
        found.add(unique)
    return found


def has_anchor(page: Path, anchor: str) -> bool:
    return anchor in anchors(page.read_text(encoding="utf-8"))


def problems(page: Path, root: Path = PROJECT_DIR) -> list[str]:
    """What ``page`` names that does not exist, one line each."""
    markdown = page.read_text(encoding="utf-8")
    found = []
    for target in links(markdown):
        if re.match(r"(https?|mailto):", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if path and not linked.exists():
            found.append(f"link to {target}: no {path} beside {page.name}")
        elif anchor and linked.suffix == ".md" and linked.is_file() and not has_anchor(linked, anchor):
            found.append(f"link to {target}: {linked.name} has no heading #{anchor}")
    for span in code_spans(markdown):
        named = repository_path(span, root)
        if named is not None and not path_exists(named, root):
            found.append(f"`{span}`: no such file or directory in the project")
    return found


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(PROJECT_DIR)))
def test_every_link_and_path_a_page_names_exists(page: Path) -> None:
    assert problems(page) == []


def test_the_readme_is_a_front_door_that_links_every_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    linked = {Path(target.partition("#")[0]).name for target in links(text)}
    assert {page.name for page in DOCS.glob("*.md")} <= linked


@pytest.mark.parametrize("name", POINTING_AT_DOCS)
def test_files_that_point_at_docs_name_pages_that_exist(name: str) -> None:
    named = DOCS_REFERENCE.findall((PROJECT_DIR / name).read_text(encoding="utf-8"))
    assert named, f"{name} no longer points at docs/: take it out of POINTING_AT_DOCS"
    assert [doc for doc in named if not (PROJECT_DIR / doc).exists()] == []


def test_code_points_only_at_docs_pages_that_exist() -> None:
    sources = [
        path
        for folder in (*KNOWN_DIRS, "Makefile")
        for path in (
            [PROJECT_DIR / folder] if folder == "Makefile" else sorted((PROJECT_DIR / folder).rglob("*"))
        )
        if path.is_file() and path.suffix in {"", ".py", ".yml", ".js", ".html", ".conf"}
    ]
    missing = [
        f"{path.relative_to(PROJECT_DIR)} names {doc}"
        for path in sources
        if path != Path(__file__).resolve()
        for doc in DOCS_REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace"))
        if not (PROJECT_DIR / doc).exists()
    ]
    assert missing == []


# --- the checks themselves can fail -----------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    for folder in ("bot", "docs", "tests/system"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "bot" / "settings.py").write_text("", encoding="utf-8")
    (tmp_path / "tests" / "system" / "test_widget.py").write_text("", encoding="utf-8")
    (tmp_path / "docs" / "widget.md").write_text("# Widget\n\n## The tests\n", encoding="utf-8")
    return tmp_path


def test_a_broken_link_a_missing_anchor_and_a_stale_path_are_found(tmp_path: Path) -> None:
    root = _project(tmp_path)
    page = root / "docs" / "page.md"
    page.write_text(
        "# Page\n\n"
        "See [the widget](widget.md#the-tests), [gone](gone.md), [no heading](widget.md#nowhere),\n"
        "[a site](https://example.org/x), `bot/settings.py`, `bot/stores.py`,\n"
        "`tests/test_widget.py`, `tests/system/test_widget.py`, `bot/<module>.py`, `bot/*.py`.\n",
        encoding="utf-8",
    )
    assert problems(page, root) == [
        "link to gone.md: no gone.md beside page.md",
        "link to widget.md#nowhere: widget.md has no heading #nowhere",
        "`bot/stores.py`: no such file or directory in the project",
        "`tests/test_widget.py`: no such file or directory in the project",
    ]


@pytest.mark.parametrize(
    "span",
    [
        "make run",
        "BIND_ADDRESS",
        "/webchat/words.json",
        "http://localhost:5005/webchat/",
        "rest:<sender>",
        "python -m tooling serve",
        "models/meso.tar.gz",
        "results/eval.md",
        "var/conversations.db",
        ".venv-stock/",
        "../shared/sources/",
        "faq.yml",
    ],
)
def test_commands_settings_urls_and_run_time_files_are_not_flagged(span: str, tmp_path: Path) -> None:
    root = _project(tmp_path)
    page = root / "docs" / "page.md"
    page.write_text(f"# Page\n\n`{span}`\n", encoding="utf-8")
    assert problems(page, root) == []


def test_fenced_code_is_not_read_as_links_or_paths(tmp_path: Path) -> None:
    root = _project(tmp_path)
    page = root / "docs" / "page.md"
    page.write_text("# Page\n\n```sh\ncurl [x](gone.md) `bot/gone.py`\n```\n", encoding="utf-8")
    assert problems(page, root) == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The widget's own words", "the-widgets-own-words"),
        ("`BIND_ADDRESS`: who can reach the servers", "bind_address-who-can-reach-the-servers"),
        ("What `make run` starts", "what-make-run-starts"),
        ("Logs: no patient's words, no contact details", "logs-no-patients-words-no-contact-details"),
    ],
)
def test_anchors_are_named_as_github_names_them(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor
