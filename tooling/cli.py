"""Command line for the clinic's operators: validate the knowledge base, show answers, run the bot."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.aftercare import AFTERCARE_FILE, load_aftercare
from bot.answers import compose_answer
from bot.clinic import load_clinic
from bot.embedding import EmbeddingError
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.retrieval import (
    RetrievalError,
    build_retriever,
    configured_thresholds,
)
from bot.safety import copy_without_patterns, default_safety_rules, load_safety_rules
from bot.settings import PROJECT_DIR, load_settings
from bot.widget_words import load_widget_words
from bot.yaml_files import InvalidData
from tooling import report as clinic_report
from tooling.baselines import (
    Compared,
    beaten_by,
    bm25_answerer,
    comparison_markdown,
    intent_reply,
    judge,
    retrieval_answerer,
    tune_bm25_threshold,
)
from tooling.bench import MESSAGES_FILE, BenchError, commit, machine, read_mix
from tooling.evaluation import (
    EMERGENCY,
    EVAL_SETS,
    SET_LANGUAGES,
    Outcome,
    Question,
    bm25_report,
    classifier_markdown,
    classifier_rows,
    evaluate_conversations_rest,
    evaluate_rest,
    evaluate_several_rest,
    knowledge_bm25,
    load_conversations,
    load_questions,
    load_several_questions,
    retrieval_markdown,
    retrieval_report,
    summarize,
    summary_markdown,
    tune_thresholds,
    turns_markdown,
)
from tooling.load import (
    DEFAULT_CONVERSATIONS,
    DEFAULT_SECONDS,
    DEFAULT_WARMUP_SECONDS,
    about,
    load_markdown,
    load_report,
    soak_bot,
    use_fresh_data_dir,
    write_results,
)
from tooling.readme import BlockError, update_block
from tooling.servers import (
    DEFAULT_MODEL,
    BotAddress,
    RestartPolicy,
    ServerError,
    action_server,
    children,
    free_port,
    port_in_use,
    running_bot,
    supervised_bot,
)


def _address() -> BotAddress:
    return BotAddress(
        rasa_port=int(os.environ.get("RASA_PORT", "5005")),
        action_port=int(os.environ.get("ACTION_PORT", "5055")),
    )


def _check_ports(*ports: int) -> None:
    busy = [port for port in ports if port_in_use(port)]
    if busy:
        raise ServerError(
            f"port {', '.join(map(str, busy))} is already in use: stop what runs there, "
            "or choose other ports with RASA_PORT=... ACTION_PORT=..."
        )


def validate(_: argparse.Namespace) -> int:
    knowledge = default_knowledge_base()
    examples = sum(len(knowledge.intent_examples.get(t.intent, ())) for t in knowledge.topics.values())
    print(
        f"Knowledge base OK: {len(knowledge.topics)} topics, {len(knowledge.sources)} sources, "
        f"{examples} FAQ training examples."
    )
    settings = load_settings()
    rules = load_safety_rules(settings.safety_dir, knowledge.topics)
    print(
        f"Safety rules OK: {len(rules.red_flags)} red flags "
        f"({sum(len(f.patterns) for f in rules.red_flags)} patterns), "
        f"{len(rules.situations)} personal-advice situations."
    )
    aftercare = load_aftercare(settings.faq_dir / AFTERCARE_FILE, knowledge)
    timed = ", ".join(f"{a.id} {a.wait_hours:g} h" for a in aftercare.activities if a.wait_hours)
    print(
        f"Aftercare rules OK: {len(aftercare.activities)} activities ({timed}; the others have no duration)."
    )
    clinic = load_clinic(settings.clinic_file)
    print(
        f"Clinic details OK: {clinic.details['clinic_name']}, time zone {clinic.time_zone} "
        f"({settings.clinic_file})."
    )
    if clinic.example:
        print(
            f"warning: {settings.clinic_file} holds the shipped EXAMPLE contact details; patients "
            "would be given made-up numbers. Point CLINIC_FILE at your clinic's file.",
            file=sys.stderr,
        )
    words = load_widget_words(settings.widget_words_file)
    print(f"Widget words OK: {', '.join(sorted(words.languages))} ({settings.widget_words_file}).")
    return 0


def topics(_: argparse.Namespace) -> int:
    for topic in default_knowledge_base().topics.values():
        print(f"{topic.id:20} {topic.title}")
    return 0


def answer(args: argparse.Namespace) -> int:
    knowledge = default_knowledge_base()
    if args.topic not in knowledge.topics:
        print(f"unknown topic '{args.topic}'; `python -m tooling topics` lists them", file=sys.stderr)
        return 2
    print(compose_answer(knowledge, knowledge.topic(args.topic)).text)
    return 0


def tune(args: argparse.Namespace) -> int:
    knowledge = default_knowledge_base()
    settings = load_settings()
    path = Path(args.questions)
    questions = load_questions(path, knowledge.topics)
    questions = [q for q in questions if q.kind != EMERGENCY]  # the safety screen handles those
    current = configured_thresholds(settings)
    reports = [retrieval_report(knowledge, questions, model, current) for model in args.models]
    reports.append(bm25_report(knowledge, questions))
    print(retrieval_markdown(reports, path, len(questions)))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(reports, indent=2), encoding="utf-8")
    return 0


def tune_reader(args: argparse.Namespace) -> int:
    """The topic reader's settings scored on the dev sets, best first."""
    from components.topic_reader import project_config
    from tooling.reader_tuning import trials_json, trials_markdown, tune

    knowledge = default_knowledge_base()
    settings = load_settings()
    grid = {
        "c": args.c,
        "vector_weight": args.vector_weight,
        "answer": args.answer,
        "part": args.part,
        "context_weight": args.context_weight,
        "retrieval_answer": args.retrieval_answer,
    }
    reader_config = project_config()
    trials = tune(
        knowledge,
        default_safety_rules(),
        configured_thresholds(settings, args.language),
        reader_config,
        grid,
        args.language,
    )
    varied = (
        f"the {args.language} classifier's C and vector weight varied"
        if args.language in reader_config["language_classifiers"]
        else "the reader's C and vector weight varied"
    )
    print(f"The topic reader on the {args.language} dev sets, {varied}, best first:\n")
    print(trials_markdown(trials))
    _write(args.json, json.dumps(trials_json(trials), indent=2))
    return 0


def _running_bot(stack: ExitStack, model: Path, purpose: str) -> BotAddress:
    """The bot on the configured ports if it runs; else started on free ports for ``stack``."""
    address = _address()
    if not port_in_use(address.rasa_port):
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        print(f"Starting the bot on port {address.rasa_port} for {purpose}...", flush=True)
        log_dir = PROJECT_DIR / "results" / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(running_bot(address, model, log_dir))
    return address


def in_language_share(outcomes: Sequence[Outcome], knowledge: KnowledgeBase, language: str) -> float:
    """The share of topic answers written in ``language``: its caveat at the end and its
    sources line in it."""
    translated = knowledge.in_language(language)
    sources_word = translated.layout.split("{sources}")[0].split("\n")[-1].strip()
    answers = [o for o in outcomes if o.topic in knowledge.topics]
    right = [o.text.rstrip().endswith(translated.caveat) and sources_word in o.text for o in answers]
    return sum(right) / len(right) if right else float("nan")


def evaluate(args: argparse.Namespace) -> int:
    """Every question, conversation and message with several questions through the bot over
    REST; starts the servers unless they run."""
    knowledge = default_knowledge_base()
    files = EVAL_SETS[args.set]
    path = Path(args.questions) if args.questions else files["questions"]
    questions = load_questions(path, knowledge.topics)
    conversations = load_conversations(files["conversations"], knowledge.topics)
    several = load_several_questions(files["several"], knowledge.topics)
    with ExitStack() as stack:
        address = _running_bot(stack, Path(args.model), "the evaluation")
        outcomes = evaluate_rest(questions, address.rest_url)
        turns = evaluate_conversations_rest(conversations, address.rest_url)
        answered = evaluate_several_rest(several, address.rest_url)
    summary = summarize(outcomes)
    turn_lines = [
        turns_markdown("Conversations, turn by turn,", files["conversations"], turns, "turns"),
        turns_markdown("Messages with several questions", files["several"], answered, "messages"),
    ]
    baselines = [] if args.no_baselines else _baselines(knowledge, questions, args)
    behind = beaten_by(summary, baselines)
    compared = []
    if baselines:
        compared = [
            comparison_markdown([Compared("this bot (over REST)", summary), *baselines], str(path)),
            "The bot beats every baseline on accuracy."
            if not behind
            else f"The bot does NOT beat: {', '.join(behind)}.",
        ]
    language = SET_LANGUAGES[args.set]
    in_language = in_language_share(outcomes, knowledge, language)
    language_line = (
        f"Answers in the set's language ({language}: its caveat last, its sources line): "
        f"{in_language:.3f} of {sum(o.topic in knowledge.topics for o in outcomes)} topic answers."
    )
    report = [summary_markdown(summary, path), language_line, *turn_lines, *compared]
    print("\n\n".join(report))
    _write(
        args.json,
        json.dumps(
            {
                "questions": str(path),
                "language": language,
                "answers_in_language": in_language,
                "bot": asdict(summary),
                "conversations": {"file": str(files["conversations"]), **asdict(turns)},
                "several_questions": {"file": str(files["several"]), **asdict(answered)},
                "baselines": [{"name": b.name, **asdict(b.summary)} for b in baselines],
            },
            indent=2,
        ),
    )
    _write(args.markdown, "\n\n".join(report) + "\n")
    if args.readme:
        where, today = machine(), dt.datetime.now(dt.timezone.utc).date().isoformat()
        provenance = (
            f"Measured {today} (UTC) on {where['cores']} cores ({where['cpu']}), "
            f"commit {commit()}, with `make eval` (`python -m tooling eval`); the misanswered questions "
            "are in `results/eval.md`."
        )
        brief = [
            summary_markdown(summary, path, details=False),
            turns_markdown(
                "Conversations, turn by turn,", files["conversations"], turns, "turns", details=False
            ),
            turns_markdown("Messages with several questions", files["several"], answered, "messages", False),
        ]
        page = update_block("make eval", "\n\n".join([provenance, *brief, *compared]))
        print(f"{page}: the quality section now shows these figures.")
    return 1 if behind else 0


def _write(name: str | None, text: str) -> None:
    if name:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text, encoding="utf-8")


def _parse_all(model: Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    """A trained Rasa model's parse of each text, loaded in this process."""
    import asyncio

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model))

    async def parse() -> list[dict[str, Any]]:
        return [await agent.parse_message(text) for text in texts]

    return asyncio.run(parse())


def _baselines(
    knowledge: KnowledgeBase, questions: Sequence[Question], args: argparse.Namespace
) -> list[Compared]:
    """BM25, embedding search alone and Rasa's default configuration on the same questions."""
    settings = load_settings()
    ranker = knowledge_bm25(knowledge)
    dev = load_questions(Path(args.tune_questions), knowledge.topics)
    threshold = tune_bm25_threshold(ranker, dev)
    retriever = build_retriever(knowledge, settings)
    dev = [q for q in dev if q.kind != EMERGENCY]
    retriever.thresholds = tune_thresholds(dev, [retriever.candidates(q.text) for q in dev])
    model = Path(args.baseline_model)
    if not model.exists():
        raise ServerError(f"no baseline model at {model}: run `make baseline` (make eval does)")
    parsed = _parse_all(model, [q.text for q in questions])
    intents = {q.text: (p.get("intent") or {}).get("name") for q, p in zip(questions, parsed, strict=True)}
    return [
        Compared(
            f"BM25 over the knowledge base (answers at score {threshold:.2f}, tuned on the dev set)",
            summarize(judge(questions, bm25_answerer(ranker, threshold))),
        ),
        Compared(
            f"embedding nearest neighbour alone ({settings.retrieval_model}, answers at "
            f"{retriever.thresholds.answer:.2f}, tuned on the dev set)",
            summarize(judge(questions, retrieval_answerer(retriever))),
        ),
        Compared(
            "Rasa's default pipeline and policies (rasa init), same data",
            summarize(judge(questions, lambda text: intent_reply(intents[text]))),
        ),
    ]


def classifier(args: argparse.Namespace) -> int:
    """The intent classifier's own emergency predictions, with the red-flag patterns off."""
    knowledge = default_knowledge_base()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as patternless:
        copy_without_patterns(settings.safety_dir, Path(patternless))
        os.environ["SAFETY_DIR"] = patternless
        load_settings.cache_clear()
        default_safety_rules.cache_clear()
        for name in args.questions:
            path = Path(name)
            questions = load_questions(path, knowledge.topics)
            parsed = _parse_all(Path(args.model), [q.text for q in questions])
            confidences = [_emergency_confidence(p) for p in parsed]
            print(classifier_markdown(path, classifier_rows(questions, confidences, args.thresholds)), "\n")
    return 0


def _emergency_confidence(parsed: dict[str, Any]) -> float:
    """The classifier's confidence in ``emergency`` when that was its top intent.

    Read from the ranking: the screen may have turned an unsure ``emergency`` into
    ``nlu_fallback``, which it puts first.
    """
    ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    top = ranking[0] if ranking else {}
    return float(top.get("confidence") or 0.0) if top.get("name") == EMERGENCY else 0.0


def bench(args: argparse.Namespace) -> int:
    """This bot beside the stock `rasa init` bot: load, floors, memory, start-up, training."""
    from tooling.bench_report import bench_chart, bench_markdown
    from tooling.bench_run import BenchOptions, run_bench

    mix = read_mix(Path(args.messages))
    options = BenchOptions(
        mix=mix,
        levels=tuple(args.concurrency),
        conversations=args.conversations,
        rounds=args.rounds,
        model=Path(args.model),
        stock_venv=Path(args.stock_venv),
        stock_dir=Path(args.stock_dir),
        work_dir=Path(args.out) / "bench-work",
        training=not args.no_training,
        profile=not args.no_profile,
        command=" ".join(["python -m tooling", *sys.argv[1:]]),
    )
    report = run_bench(options)
    markdown = bench_markdown(report)
    print("\n" + markdown)
    out = Path(args.out)
    _write(str(out / "bench.json"), json.dumps(report, indent=2))
    _write(str(out / "bench.md"), markdown + "\n")
    bench_chart(report, out / "bench.png")
    print(f"\nWritten: {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}")
    if args.readme:
        page = update_block("make bench", markdown)
        print(f"{page}: the speed section now shows these figures.")
    return 1 if report["targets"]["errors"] else 0


def soak(args: argparse.Namespace) -> int:
    """Many conversations at once for minutes: errors, latency per minute, memory growth."""
    if args.conversations < 1 or args.seconds <= 0 or args.warmup < 0:
        print("error: --conversations and --seconds must be positive, --warmup not negative", file=sys.stderr)
        return 2
    mix = read_mix(Path(args.messages))
    out = Path(args.out)
    use_fresh_data_dir(out / "load-work" / "data")
    with ExitStack() as stack:
        address = _running_bot(stack, Path(args.model), "the load run")
        pids = args.pid or children(os.getpid())  # the servers started here, if any
        print(f"{args.conversations} conversations, {args.warmup:g} + {args.seconds:g} s...", flush=True)
        run = soak_bot(address.rest_url, mix, args.conversations, args.seconds, args.warmup, pids)
    report = load_report(run, about(" ".join(["python -m tooling", *sys.argv[1:]]), mix, Path(args.messages)))
    print("\n" + load_markdown(report))
    print(f"\nWritten: {', '.join(map(str, write_results(report, out)))}")
    return 0 if report["targets"]["all_met"] else 1


def serve(args: argparse.Namespace) -> int:
    address = _address()
    _check_ports(address.rasa_port, address.action_port)
    default_knowledge_base()
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    # Imported here: the channel module loads Rasa's socket.io channel, which only serve needs.
    from channels.socketio import widget_url

    print(f"Starting the action server on port {address.action_port} and Rasa on {address.rasa_port}...")
    policy = RestartPolicy(limit=load_settings().restart_limit)
    with supervised_bot(address, Path(args.model), log_dir, policy) as bot:
        print(
            "\nThe bot is running.\n"
            f"  website:   open {widget_url(address.rasa_url)} in a browser (the chat widget)\n"
            f"  REST:      curl -s {address.rest_url} -H 'Content-Type: application/json' \\\n"
            '               -d \'{"sender": "patient-1", "message": "how much does it cost?"}\'\n'
            f"  socket.io: {address.rasa_url} (events user_uttered / bot_uttered)\n"
            f"  HTTP API:  {_api_status()}\n"
            f"  listening: {_listening()}\n"
            "  terminal:  make shell\n"
            "A server that exits is started again. Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            bot.watch()
        except KeyboardInterrupt:
            print("\nStopping...")
    return 0


def _listening() -> str:
    """Where `make run` listens (BIND_ADDRESS), as the operator should read it."""
    bind = load_settings().bind_address
    if bind in ("127.0.0.1", "localhost", "::1"):
        return f"{bind} only (this machine; BIND_ADDRESS=0.0.0.0 listens on every interface)"
    return f"{bind} (BIND_ADDRESS)"


def _api_status() -> str:
    """What `make run` says about Rasa's HTTP API (docs/security.md)."""
    if load_settings().rasa_api_token:
        return "on; every request needs ?token=<RASA_API_TOKEN>"
    return "off (set RASA_API_TOKEN to turn it on, with that token required)"


def shell(args: argparse.Namespace) -> int:
    address = _address()
    _check_ports(address.action_port)
    default_knowledge_base()
    rasa = str(Path(sys.executable).parent / "rasa")
    with action_server(address):
        command = [rasa, "shell", "--model", args.model, "--endpoints", "endpoints.yml"]
        env = dict(os.environ, ACTION_PORT=str(address.action_port))
        env.setdefault("ACTION_ENDPOINT_HOST", "localhost")
        return subprocess.call(command, env=env)  # noqa: S603 (fixed argument list)


def purge(_: argparse.Namespace) -> int:
    """Delete the conversations past CONVERSATION_RETENTION_DAYS now (a running Rasa server
    also does, hourly); for a cron job beside a server that is rarely restarted."""
    from rasa_server.stores import ConversationStore, StoreUnavailable  # imports Rasa: only here

    try:
        store = ConversationStore()  # which purges as it opens the database
        deleted = store.purged_at_start + store.purge()
    except StoreUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Deleted {deleted} conversation(s) with no message in the last {store.retention_days} days "
        f"from {store.store.where}."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "validate", help="check the knowledge base, NLU data, safety rules, clinic details and widget words"
    ).set_defaults(run=validate)
    commands.add_parser("topics", help="list the knowledge-base topics").set_defaults(run=topics)
    commands.add_parser(
        "purge", help="delete conversations older than CONVERSATION_RETENTION_DAYS (default 30)"
    ).set_defaults(run=purge)
    clinic_report.add_commands(commands)
    show = commands.add_parser("answer", help="print a topic's answer as a patient reads it")
    show.add_argument("topic")
    show.set_defaults(run=answer)
    tuning = commands.add_parser("tune", help="measure retrieval on labelled questions and tune thresholds")
    tuning.add_argument("--questions", default=str(PROJECT_DIR / "tests" / "dev_questions.yml"))
    tuning.add_argument("--models", nargs="+", default=[load_settings().retrieval_model])
    tuning.add_argument("--json", default=str(PROJECT_DIR / "results" / "retrieval.json"))
    tuning.set_defaults(run=tune)
    reader = commands.add_parser(
        "tune-reader", help="the topic reader's settings scored on the dev sets (questions, conversations)"
    )
    for name, default in (
        ("--c", [5.0, 10.0, 30.0]),
        ("--vector-weight", [1.0, 2.0, 3.0]),
        ("--answer", [0.4, 0.5, 0.6]),
        ("--part", [0.4, 0.5]),
        ("--context-weight", [2.0, 4.0, 8.0]),
        ("--retrieval-answer", [0.6, 0.7]),
    ):
        reader.add_argument(name, nargs="+", type=float, default=default)
    reader.add_argument(
        "--language",
        choices=["en", "es"],
        default="en",
        help="the dev sets to score (and the classifier to vary)",
    )
    reader.add_argument("--json", default=str(PROJECT_DIR / "results" / "reader_tuning.json"))
    reader.set_defaults(run=tune_reader)
    assess = commands.add_parser(
        "eval", help="judge the running bot's replies to labelled questions over REST"
    )
    assess.add_argument(
        "--set",
        choices=sorted(EVAL_SETS),
        default="heldout",
        help="the questions, conversations and messages",
    )
    assess.add_argument("--questions", default=None, help="another question file instead of the set's")
    assess.add_argument("--model", default=str(DEFAULT_MODEL))
    assess.add_argument("--json", default=str(PROJECT_DIR / "results" / "eval.json"))
    assess.add_argument("--markdown", default=str(PROJECT_DIR / "results" / "eval.md"))
    assess.add_argument("--no-baselines", action="store_true", help="judge the bot alone")
    assess.add_argument(
        "--readme", action="store_true", help="write the report into docs/quality-and-speed.md"
    )
    assess.add_argument("--baseline-model", default=str(PROJECT_DIR / "models" / "baseline-rasa-init.tar.gz"))
    assess.add_argument(
        "--tune-questions",
        default=str(PROJECT_DIR / "tests" / "dev_questions.yml"),
        help="where the BM25 baseline's threshold is chosen",
    )
    assess.set_defaults(run=evaluate)
    alone = commands.add_parser(
        "classifier", help="the intent classifier's own emergency predictions, red-flag patterns off"
    )
    alone.add_argument(
        "--questions", nargs="+", default=[str(PROJECT_DIR / "tests" / "safety_questions.yml")]
    )
    alone.add_argument("--model", default=str(DEFAULT_MODEL))
    alone.add_argument("--thresholds", nargs="+", type=float, default=[0.5, 0.7, 0.9, 0.95])
    alone.set_defaults(run=classifier)
    load = commands.add_parser(
        "bench", help="this bot beside the stock rasa init bot: latency, throughput, memory, training"
    )
    load.add_argument("--messages", default=str(MESSAGES_FILE))
    load.add_argument("--concurrency", nargs="+", type=int, default=[1, 10, 50])
    load.add_argument(
        "--conversations",
        type=int,
        default=20,
        help="conversations per round (at least 4 per concurrent conversation)",
    )
    load.add_argument("--rounds", type=int, default=3, help="rounds per system at each level, taking turns")
    load.add_argument("--model", default=str(DEFAULT_MODEL))
    load.add_argument("--stock-venv", default=str(PROJECT_DIR / ".venv-stock"))
    load.add_argument("--stock-dir", default=str(PROJECT_DIR / "models" / "stock-bot"))
    load.add_argument("--out", default=str(PROJECT_DIR / "results"))
    load.add_argument("--no-training", action="store_true", help="skip the training times (minutes)")
    load.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    load.add_argument("--readme", action="store_true", help="write the report into docs/quality-and-speed.md")
    load.set_defaults(run=bench)
    soaking = commands.add_parser(
        "load", help="a soak run: many conversations at once for minutes; errors, latency, memory growth"
    )
    soaking.add_argument("--conversations", type=int, default=DEFAULT_CONVERSATIONS, help="how many at once")
    soaking.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="measured, after the warm-up")
    soaking.add_argument(
        "--warmup", type=float, default=DEFAULT_WARMUP_SECONDS, help="seconds first, not in the figures"
    )
    soaking.add_argument("--messages", default=str(MESSAGES_FILE))
    soaking.add_argument("--model", default=str(DEFAULT_MODEL))
    soaking.add_argument(
        "--pid", type=int, action="append", help="a running server's process to sample (repeatable)"
    )
    soaking.add_argument("--out", default=str(PROJECT_DIR / "results"))
    soaking.set_defaults(run=soak)
    run = commands.add_parser("serve", help="run the action server and the Rasa server")
    run.add_argument("--model", default=str(DEFAULT_MODEL))
    run.add_argument("--log-dir", default=None, help="write server logs here instead of the terminal")
    run.set_defaults(run=serve)
    chat = commands.add_parser("shell", help="chat with the bot in the terminal")
    chat.add_argument("--model", default=str(DEFAULT_MODEL))
    chat.set_defaults(run=shell)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("Stopped: every server this command started has been stopped.", file=sys.stderr)
        return 130
    except InvalidData as error:
        print(error, file=sys.stderr)
        return 1
    except (ServerError, RetrievalError, EmbeddingError, BenchError, BlockError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
