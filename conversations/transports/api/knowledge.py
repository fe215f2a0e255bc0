"""What the bot knows, over the API: FAQ entries (CRUD and bulk import) and order data."""

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Body, Query, Router, Status
from pydantic import Field

from conversations.importing import ImportFileError, ImportReport
from conversations.importing.faq import faq_entries_parse, faq_records_import
from conversations.importing.order_formats import store_json_parse
from conversations.importing.orders import store_data_import
from conversations.models import FaqEntry
from conversations.transports.api.auth import scope_require
from conversations.transports.api.errors import ApiError, ErrorOut
from conversations.transports.api.schemas import (
    FaqImportIn,
    FaqIn,
    FaqOut,
    FaqPage,
    FaqPatchIn,
    ImportOut,
    In,
    text_problem,
)

router = Router(tags=["knowledge"])

ERRORS = {
    **{status: ErrorOut for status in (400, 401, 403, 404, 413, 422, 429)},
    503: ErrorOut,  # Redis away: retry after Retry-After
}


def _entry(request: HttpRequest, entry_id: int) -> FaqEntry:
    key = scope_require(request, "knowledge")
    entry = FaqEntry.objects.filter(pk=entry_id, bot_id=key.bot_id).first()
    if entry is None:
        raise ApiError("not_found", "No such FAQ entry.", status=404)
    return entry


def _question_taken() -> ApiError:
    return ApiError("duplicate_question", "This bot already has that question.", status=409)


class FaqFilters(In):
    q: str | None = Field(None, max_length=200, description="Text in the question.")
    tag: str | None = Field(None, max_length=100)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


@router.get("/faq", response={200: FaqPage, **ERRORS}, summary="List FAQ entries")
def faq_list(request: HttpRequest, filters: Query[FaqFilters]):
    key = scope_require(request, "knowledge")
    qs = FaqEntry.objects.filter(bot_id=key.bot_id).order_by("question", "pk")
    if filters.q:
        qs = qs.filter(question__icontains=filters.q)
    items = list(qs)
    if filters.tag:  # tags are a JSON list; filtering in Python keeps SQLite and PostgreSQL alike
        items = [e for e in items if filters.tag in (e.tags or [])]
    total = len(items)
    page = items[filters.offset : filters.offset + filters.limit]
    end = filters.offset + len(page)
    return {"items": page, "total": total, "next_offset": end if end < total else None}


@router.post("/faq", response={201: FaqOut, 409: ErrorOut, **ERRORS}, summary="Create an FAQ entry")
def faq_create(request: HttpRequest, body: FaqIn):
    key = scope_require(request, "knowledge")
    try:
        with transaction.atomic():
            entry = FaqEntry.objects.create(bot_id=key.bot_id, **body.dict())
    except IntegrityError:
        raise _question_taken() from None
    return Status(201, entry)


@router.get("/faq/{int:entry_id}", response={200: FaqOut, **ERRORS}, summary="Read an FAQ entry")
def faq_get(request: HttpRequest, entry_id: int):
    return _entry(request, entry_id)


@router.patch(
    "/faq/{int:entry_id}",
    response={200: FaqOut, 409: ErrorOut, **ERRORS},
    summary="Update an FAQ entry",
)
def faq_update(request: HttpRequest, entry_id: int, body: FaqPatchIn):
    entry = _entry(request, entry_id)
    changes = body.dict(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(entry, name, value)
    if changes:
        try:
            with transaction.atomic():
                entry.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise _question_taken() from None
    return entry


@router.delete("/faq/{int:entry_id}", response={204: None, **ERRORS}, summary="Delete an FAQ entry")
def faq_delete(request: HttpRequest, entry_id: int):
    _entry(request, entry_id).delete()
    return Status(204, None)


def _import_out(report: ImportReport, deleted: int = 0) -> dict[str, Any]:
    return {
        "created": sum(c.created for c in report.kinds.values()),
        "updated": sum(c.updated for c in report.kinds.values()),
        "deleted": deleted,
        "details": {
            "dry_run": report.dry_run,
            **{
                kind: {"created": c.created, "updated": c.updated, "unchanged": c.unchanged}
                for kind, c in report.kinds.items()
            },
        },
    }


def _invalid_import(exc: ImportFileError) -> ApiError:
    shown = "; ".join(exc.errors[:5])
    more = f" (and {len(exc.errors) - 5} more)" if len(exc.errors) > 5 else ""
    return ApiError("invalid_import", f"Nothing was imported: {shown}{more}", status=422)


@router.post(
    "/faq/import",
    response={200: ImportOut, **ERRORS},
    summary="Import FAQ entries in bulk",
    description="Needs the `knowledge` scope. Entries are matched by question: new ones are "
    "created, known ones updated; with `replace`, entries not in the import are deleted. "
    "`dry_run` checks and counts without storing.",
)
def faq_import(request: HttpRequest, body: FaqImportIn):
    key = scope_require(request, "knowledge")
    entries = [
        {
            "question": e.question,
            "answer": e.answer,
            "alternatives": e.alternatives,
            "tags": e.tags,
            "published": e.is_published,
        }
        for e in body.entries
    ]
    try:
        records = faq_entries_parse(entries=entries)
    except ImportFileError as exc:
        raise _invalid_import(exc) from None
    deleted = 0
    with transaction.atomic():
        report = faq_records_import(bot=key.bot, records=records, dry_run=body.dry_run)
        if body.replace and not body.dry_run:
            keep = {r.question for r in records}
            stale = FaqEntry.objects.filter(bot_id=key.bot_id).exclude(question__in=keep)
            deleted = stale.delete()[0]
    return _import_out(report, deleted)


@router.post(
    "/orders/import",
    response={200: ImportOut, **ERRORS},
    summary="Import order data",
    description="Needs the `knowledge` scope. One JSON document in the Supportbot layout "
    '(`{"customers": [...], "products": [...], "orders": [...]}`) or the tau2 retail '
    "export (`users`, `products`, `orders` keyed by id), as `manage.py import_orders` reads "
    "(docs/data-formats.md). Records are upserted on the store's own ids; a bad document "
    "stores nothing and answers 422 naming the problems. `dry_run=true` only checks.",
)
def orders_import(request: HttpRequest, body: Body[dict[str, Any]], dry_run: bool = False):
    key = scope_require(request, "knowledge")
    if problem := text_problem(body):
        raise ApiError("invalid_request", problem, status=422)
    try:
        data = store_json_parse(document=body)
        report = store_data_import(bot=key.bot, data=data, dry_run=dry_run)
    except ImportFileError as exc:
        raise _invalid_import(exc) from None
    return _import_out(report)
