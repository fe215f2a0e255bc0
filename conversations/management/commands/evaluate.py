"""Measure a bot's answers on a JSONL case file and store the run (see docs/knowledge.md)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from conversations.domain.evaluation import (
    ENGINES,
    EvaluationFileError,
    evaluation_diff,
    evaluation_run,
)
from conversations.models import Bot

LABELS = [
    ("top1", "routing top-1", "%"),
    ("top3", "routing top-3", "%"),
    ("off_topic_caught", "off-topic caught", "%"),
    ("good_refused", "good questions refused", "%"),
    ("answer_when_routed", "reply gives the routed entry's answer", "%"),
    ("dont_know_cited", '"I don\'t know" replies that cite', "%"),
    ("passage_top1", "article questions: right article first", "%"),
    ("passage_top3", "article questions: right article in top-3", "%"),
    ("passage_section", "article questions: right section first", "%"),
    ("passage_facts", "article questions: reply has the facts", "%"),
    ("passage_cited", "article questions: reply cites the article", "%"),
    ("scenarios_passed", "scenarios passed", "%"),
    ("resolution", "resolution", "%"),
    ("handoff_rate", "hand-off rate", "%"),
    ("tokens_per_conversation", "tokens per conversation", ""),
    ("cost_per_conversation_usd", "cost per conversation (USD)", ""),
    ("latency_p50_ms", "reply latency p50 (ms)", ""),
    ("latency_p95_ms", "reply latency p95 (ms)", ""),
    ("search_p95_ms", "search p95 (ms)", ""),
]


class Command(BaseCommand):
    help = (
        "Run a JSONL case file (questions with their expected entry or no_match; questions "
        "an article answers; multi-turn scenarios) against a bot through the search and the "
        "reply engine; store the run."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument("--engine", choices=ENGINES, default="offline")
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")

    def handle(self, *args, **options):
        bot = Bot.objects.filter(slug=options["bot"]).first()
        if bot is None:
            raise CommandError(f"No bot with slug {options['bot']!r}.")
        try:
            run = evaluation_run(bot=bot, path=options["file"], engine=options["engine"])
        except EvaluationFileError as exc:
            raise CommandError(str(exc)) from exc
        diff = evaluation_diff(run)
        failed = list(run.cases.filter(passed=False).values_list("case_id", flat=True))
        if options["json"]:
            payload = {
                "run": run.pk,
                "bot": bot.slug,
                "file": run.case_file,
                "engine": run.engine,
                "metrics": run.metrics,
                "failed": failed,
                "changed": diff,
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(f"Run {run.pk}: {run.case_file} on {bot.slug} ({run.engine})")
        for key, label, unit in LABELS:
            value = run.metrics.get(key)
            if value is None:
                continue
            shown = f"{value * 100:.1f}%" if unit == "%" else str(value)
            self.stdout.write(f"  {label:<40} {shown}")
        splits = sorted(
            key.removeprefix("passage_top3_")
            for key in run.metrics
            if key.startswith("passage_top3_")
        )
        for split in splits:
            figures = " / ".join(
                f"{run.metrics[f'passage_{name}_{split}'] * 100:.1f}%"
                for name in ("top1", "top3", "section", "facts")
            )
            self.stdout.write(
                f"  {'  ' + split + ': top-1 / top-3 / section / facts':<40} {figures}"
            )
        self.stdout.write(f"  {'cases':<40} {run.metrics['cases']} ({len(failed)} failed)")
        if diff:
            self.stdout.write("Changed since the previous run:")
            for change in diff:
                self.stdout.write(f"  {change['case_id']}: {change['before']} -> {change['after']}")
