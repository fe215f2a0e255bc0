"""Evaluating a bot's answers on a JSONL case file, through the real search and reply engine.

A question case: {"id", "question", "expected": entry question or "no_match"}. An article case:
{"id", "question", "article": its title, "section": heading path, "facts": [...], "split"}. A
scenario: {"id", "turns": [...], "expected_tools": [...], "facts": [...], "forbidden": [...]}.
Each case runs in a conversation of its own (a throwaway customer, deleted afterwards, no
webhooks), and the run is stored with every case's outcome so runs can be compared over time.
"""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.knowledge import faq_search
from conversations.knowledge.passage_search import passage_search
from conversations.models import (
    Bot,
    Conversation,
    ConversationStatus,
    Customer,
    EvaluationCaseResult,
    EvaluationRun,
    FaqEntry,
    MessageRole,
)

NO_MATCH = "no_match"
ENGINES = ("offline", "openai")


class EvaluationFileError(ValueError):
    """A case file that cannot be read; nothing was run or stored."""


@dataclass(frozen=True, slots=True)
class QuestionCase:
    id: str
    question: str
    expected: str


@dataclass(frozen=True, slots=True)
class ScenarioCase:
    id: str
    turns: tuple[str, ...]
    expected_tools: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArticleCase:
    """A question only an article answers: the article, its section and the facts to quote."""

    id: str
    question: str
    article: str
    section: str = ""
    facts: tuple[str, ...] = ()
    split: str = ""


Case = QuestionCase | ArticleCase | ScenarioCase


def _strings(value: Any, *, line: int, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EvaluationFileError(f"line {line}: {name!r} must be a list of strings")
    return tuple(value)


def cases_parse(text: str) -> list[Case]:
    """The cases of a JSONL file, checked; raises EvaluationFileError naming the bad line."""
    cases: list[Case] = []
    seen: set[str] = set()
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise EvaluationFileError(f"line {line}: not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise EvaluationFileError(f"line {line}: a case is a JSON object")
        case_id = str(data.get("id") or f"line-{line}")
        if case_id in seen:
            raise EvaluationFileError(f"line {line}: duplicate id {case_id!r}")
        seen.add(case_id)
        if "turns" in data:
            turns = _strings(data["turns"], line=line, name="turns")
            if not turns:
                raise EvaluationFileError(f"line {line}: a scenario needs at least one turn")
            cases.append(
                ScenarioCase(
                    id=case_id,
                    turns=turns,
                    expected_tools=_strings(
                        data.get("expected_tools", []), line=line, name="expected_tools"
                    ),
                    facts=_strings(data.get("facts", []), line=line, name="facts"),
                    forbidden=_strings(data.get("forbidden", []), line=line, name="forbidden"),
                )
            )
        elif isinstance(data.get("question"), str) and isinstance(data.get("article"), str):
            if not data["question"].strip() or not data["article"].strip():
                raise EvaluationFileError(f"line {line}: empty question or article")
            cases.append(
                ArticleCase(
                    id=case_id,
                    question=data["question"],
                    article=data["article"],
                    section=str(data.get("section") or ""),
                    facts=_strings(data.get("facts", []), line=line, name="facts"),
                    split=str(data.get("split") or ""),
                )
            )
        elif isinstance(data.get("question"), str) and isinstance(data.get("expected"), str):
            if not data["question"].strip():
                raise EvaluationFileError(f"line {line}: empty question")
            cases.append(QuestionCase(case_id, data["question"], data["expected"]))
        else:
            raise EvaluationFileError(
                f"line {line}: a case needs 'question' and 'expected' (or 'article'), or 'turns'"
            )
    if not cases:
        raise EvaluationFileError("the file has no cases")
    return cases


@dataclass
class _Conversation:
    replies: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    cost: Decimal = Decimal(0)
    latencies_ms: list[float] = field(default_factory=list)
    handed_off: bool = False


def _conversation_open(bot: Bot) -> Conversation:
    # Straight rows rather than conversation_start: an evaluation is no customer's
    # conversation, so it must not reach webhooks or the agents' queue notifications.
    customer = Customer.objects.create(bot=bot, visitor_id=f"evaluation-{uuid.uuid4().hex[:16]}")
    return Conversation.objects.create(bot=bot, customer=customer)


def _conversation_close(conversation: Conversation) -> bool:
    """Whether it was handed off; then the throwaway rows go."""
    status = Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)
    Customer.objects.filter(pk=conversation.customer_id).delete()
    return status != ConversationStatus.BOT


async def _converse(conversation_id: Any, turns: tuple[str, ...]) -> _Conversation:
    from conversations.engine import reply_stream

    result = _Conversation()
    for turn in turns:
        await sync_to_async(message_append)(
            conversation_id=conversation_id, role=MessageRole.CUSTOMER, text=turn
        )
        started = time.perf_counter()
        reply = ""
        async for event in reply_stream(conversation_id=conversation_id):
            if event.type == "tool.started":
                result.tools.append(event.tool)
            elif event.type == "assistant.done":
                reply = event.text
                result.sources += list(event.sources)
                result.tokens += event.prompt_tokens + event.completion_tokens
                result.cost += Decimal(event.cost_usd or "0")
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.replies.append(reply)
    return result


def _talk(bot: Bot, turns: tuple[str, ...]) -> _Conversation:
    conversation = _conversation_open(bot)
    try:
        result = asyncio.run(_converse(conversation.pk, turns))
    finally:
        handed_off = _conversation_close(conversation)
    result.handed_off = handed_off or "handoff_to_human" in result.tools
    return result


def _question_result(bot: Bot, case: QuestionCase, answers: dict[str, tuple[int, str]]) -> dict:
    started = time.perf_counter()
    search = faq_search(bot_id=bot.pk, question=case.question, limit=3)
    search_ms = (time.perf_counter() - started) * 1000
    found = [m.question for m in search.matches]
    talk = _talk(bot, (case.question,))
    reply = talk.replies[-1] if talk.replies else ""
    cited = [s.get("id") for s in talk.sources]
    got = {
        "top3": found,
        "confidence": round(search.matches[0].confidence, 3) if search.matches else 0.0,
        "no_good_match": search.no_good_match,
        "ambiguous": search.ambiguous,
        "reply": reply[:500],
        "tools": talk.tools,
        "cited": cited,
        "handed_off": talk.handed_off,
        "search_ms": round(search_ms, 2),
    }
    if case.expected == NO_MATCH:
        got["caught"] = search.no_good_match
        got["resolved"] = search.no_good_match and not cited
    else:
        entry_id, answer = answers.get(case.expected, (None, ""))
        got["top1"] = found[:1] == [case.expected]
        got["top3_hit"] = case.expected in found
        got["refused"] = search.no_good_match
        got["answered"] = bool(answer) and (answer in reply or entry_id in cited)
        got["resolved"] = got["answered"] and not talk.handed_off
    return {"got": got, "talk": talk, "passed": bool(got["resolved"])}


def _article_result(bot: Bot, case: ArticleCase) -> dict:
    started = time.perf_counter()
    search = passage_search(bot_id=bot.pk, question=case.question, limit=3)
    search_ms = (time.perf_counter() - started) * 1000
    found = [(m.title, m.heading) for m in search.matches]
    talk = _talk(bot, (case.question,))
    reply = talk.replies[-1] if talk.replies else ""
    articles = [s for s in talk.sources if s.get("type") == "article"]
    got = {
        "top3": [f"{title} > {heading}" if heading else title for title, heading in found],
        "top1": [t for t, _ in found[:1]] == [case.article],
        "top3_hit": case.article in [t for t, _ in found],
        "section": found[:1] == [(case.article, case.section)],
        "no_good_match": search.no_good_match,
        "similarity": round(search.matches[0].similarity, 3) if search.matches else 0.0,
        "reply": reply[:500],
        "tools": talk.tools,
        "facts": all(fact.lower() in reply.lower() for fact in case.facts),
        "missing_facts": [fact for fact in case.facts if fact.lower() not in reply.lower()],
        "cited": [f"{s.get('title')} > {s.get('section')}" for s in articles],
        "cited_article": any(s.get("title") == case.article for s in articles),
        "handed_off": talk.handed_off,
        "search_ms": round(search_ms, 2),
    }
    got["resolved"] = got["facts"] and not talk.handed_off
    return {"got": got, "talk": talk, "passed": bool(got["top3_hit"] and got["resolved"])}


def _article_metrics(groups: list[tuple[ArticleCase, dict]]) -> dict[str, Any]:
    """passage_top1, _top3, _section, _facts and _cited, overall and per split (dev, ...)."""
    metrics: dict[str, Any] = {"article_questions": len(groups)}
    splits = sorted({c.split for c, _ in groups if c.split})
    for suffix, part in [("", groups)] + [
        (f"_{split}", [(c, g) for c, g in groups if c.split == split]) for split in splits
    ]:
        got = [g for _, g in part]
        for key, name in (
            ("top1", "top1"),
            ("top3_hit", "top3"),
            ("section", "section"),
            ("facts", "facts"),
            ("cited_article", "cited"),
        ):
            metrics[f"passage_{name}{suffix}"] = round(sum(g[key] for g in got) / len(got), 4)
    return metrics


def _scenario_result(bot: Bot, case: ScenarioCase) -> dict:
    talk = _talk(bot, case.turns)
    final = (talk.replies[-1] if talk.replies else "").lower()
    everything = " ".join(talk.replies).lower()
    missing = [fact for fact in case.facts if fact.lower() not in final]
    leaked = [text for text in case.forbidden if text.lower() in everything]
    tools_ok = not case.expected_tools or talk.tools == list(case.expected_tools)
    got = {
        "tools": talk.tools,
        "replies": [r[:500] for r in talk.replies],
        "missing_facts": missing,
        "leaked": leaked,
        "handed_off": talk.handed_off,
    }
    return {"got": got, "talk": talk, "passed": tools_ok and not missing and not leaked}


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _metrics(results: list[tuple[Case, dict]]) -> dict[str, Any]:
    on = [r["got"] for c, r in results if isinstance(c, QuestionCase) and c.expected != NO_MATCH]
    off = [r["got"] for c, r in results if isinstance(c, QuestionCase) and c.expected == NO_MATCH]
    scenarios = [r for c, r in results if isinstance(c, ScenarioCase)]
    articles = [(c, r["got"]) for c, r in results if isinstance(c, ArticleCase)]
    talks = [r["talk"] for _, r in results]
    latencies = [ms for t in talks for ms in t.latencies_ms]
    search_ms = [g["search_ms"] for g in on + off] + [g["search_ms"] for _, g in articles]
    routed = [g for g in on if g["top1"]]
    not_known = [g for g in on + off if g["no_good_match"]]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    metrics = {
        "cases": len(results),
        "questions": len(on),
        "off_topic": len(off),
        "scenarios": len(scenarios),
        "top1": share(sum(g["top1"] for g in on), len(on)),
        "top3": share(sum(g["top3_hit"] for g in on), len(on)),
        "off_topic_caught": share(sum(g["caught"] for g in off), len(off)),
        "good_refused": share(sum(g["refused"] for g in on), len(on)),
        "answer_when_routed": share(sum(g["answered"] for g in routed), len(routed)),
        "dont_know_cited": share(sum(bool(g["cited"]) for g in not_known), len(not_known)),
        "scenarios_passed": share(sum(r["passed"] for r in scenarios), len(scenarios)),
        "resolution": share(
            sum(g["resolved"] for g in on)
            + sum(r["passed"] for r in scenarios)
            + sum(g["resolved"] for _, g in articles),
            len(on) + len(scenarios) + len(articles),
        ),
        "handoff_rate": share(sum(t.handed_off for t in talks), len(talks)),
        "tokens_per_conversation": round(sum(t.tokens for t in talks) / max(1, len(talks)), 1),
        "cost_per_conversation_usd": f"{sum(t.cost for t in talks) / max(1, len(talks)):.8f}",
        "latency_p50_ms": round(_percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
        "search_p50_ms": round(_percentile(search_ms, 0.5), 2),
        "search_p95_ms": round(_percentile(search_ms, 0.95), 2),
    }
    if articles:
        metrics.update(_article_metrics(articles))
    return metrics


def evaluation_run(*, bot: Bot, path: Path, engine: str = "offline") -> EvaluationRun:
    """Run every case of a file against the bot, store the run and each case's outcome."""
    if engine not in ENGINES:
        raise EvaluationFileError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationFileError(f"cannot read {path}: {exc}") from exc
    cases = cases_parse(text)
    answers = {
        question: (pk, answer)
        for pk, question, answer in FaqEntry.objects.filter(bot=bot, is_published=True).values_list(
            "id", "question", "answer"
        )
    }
    started = timezone.now()
    results: list[tuple[Case, dict]] = []
    # Tools run in this process (the same code a worker runs), so a run needs no worker.
    with override_settings(
        CELERY_TASK_ALWAYS_EAGER=True,
        SUPPORTBOT_ENGINE=engine,
        SUPPORTBOT_OFFLINE_DELAY=0,
        SUPPORTBOT_REPLY_CACHE_SECONDS=0,
        SUPPORTBOT_MODERATION=settings.SUPPORTBOT_MODERATION and engine == "openai",
    ):
        for case in cases:
            if isinstance(case, QuestionCase):
                results.append((case, _question_result(bot, case, answers)))
            elif isinstance(case, ArticleCase):
                results.append((case, _article_result(bot, case)))
            else:
                results.append((case, _scenario_result(bot, case)))
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            bot=bot, case_file=path.name, engine=engine, metrics=_metrics(results)
        )
        EvaluationRun.objects.filter(pk=run.pk).update(
            started_at=started, finished_at=timezone.now()
        )
        EvaluationCaseResult.objects.bulk_create(
            EvaluationCaseResult(
                run=run,
                case_id=case.id,
                kind=_kind(case),
                passed=result["passed"],
                expected=_expected(case),
                got=result["got"],
                latency_ms=int(sum(result["talk"].latencies_ms)),
                tokens=result["talk"].tokens,
            )
            for case, result in results
        )
    run.refresh_from_db()
    return run


def _kind(case: Case) -> str:
    if isinstance(case, QuestionCase):
        return "question"
    return "article" if isinstance(case, ArticleCase) else "scenario"


def _expected(case: Case) -> dict[str, Any]:
    if isinstance(case, QuestionCase):
        return {"expected": case.expected}
    if isinstance(case, ArticleCase):
        return {
            "article": case.article,
            "section": case.section,
            "facts": list(case.facts),
            "split": case.split,
        }
    return {
        "turns": list(case.turns),
        "expected_tools": list(case.expected_tools),
        "facts": list(case.facts),
    }


def evaluation_previous(run: EvaluationRun) -> EvaluationRun | None:
    """The run before this one of the same bot, file and engine."""
    return (
        EvaluationRun.objects.filter(
            bot_id=run.bot_id,
            case_file=run.case_file,
            engine=run.engine,
            started_at__lt=run.started_at,
        )
        .order_by("-started_at")
        .first()
    )


def evaluation_diff(run: EvaluationRun) -> list[dict[str, Any]]:
    """Cases whose outcome changed since the previous run (new cases count as changed).

    Empty for a first run."""
    previous = evaluation_previous(run)
    if previous is None:
        return []
    before = dict(previous.cases.values_list("case_id", "passed"))
    return [
        {"case_id": case_id, "before": before.get(case_id), "after": passed}
        for case_id, passed in run.cases.values_list("case_id", "passed")
        if before.get(case_id) != passed
    ]
