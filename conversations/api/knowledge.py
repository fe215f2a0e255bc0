"""What the bot knows, over the API: FAQ entries (CRUD and bulk import) and order data."""

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import Field

from conversations.api.auth import scope_require
from conversations.api.errors import ApiError, ErrorOut
from conversations.api.schemas import FaqImportIn, FaqIn, FaqOut, FaqPage, FaqPatchIn, ImportOut, In
from conversations.models import FaqEntry

router = Router(tags=["knowledge"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


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


@router.post(
    "/faq/import",
    response={200: ImportOut, **ERRORS},
    summary="Import FAQ entries in bulk",
    description="Needs the `knowledge` scope. Entries are matched by question: new ones are "
    "created, known ones updated; with `replace`, entries not in the import are deleted.",
)
def faq_import(request: HttpRequest, body: FaqImportIn):
    key = scope_require(request, "knowledge")
    entries = {e.question.strip(): e for e in body.entries}
    created = updated = deleted = 0
    with transaction.atomic():
        existing = {e.question: e for e in FaqEntry.objects.filter(bot_id=key.bot_id)}
        for question, incoming in entries.items():
            values = {**incoming.dict(), "question": question}
            entry = existing.get(question)
            if entry is None:
                FaqEntry.objects.create(bot_id=key.bot_id, **values)
                created += 1
                continue
            changed = [n for n, v in values.items() if getattr(entry, n) != v]
            if changed:
                for name in changed:
                    setattr(entry, name, values[name])
                entry.save(update_fields=[*changed, "updated_at"])
                updated += 1
        if body.replace:
            stale = [e.pk for q, e in existing.items() if q not in entries]
            deleted = FaqEntry.objects.filter(pk__in=stale).delete()[0]
    return {"created": created, "updated": updated, "deleted": deleted}


@router.post(
    "/orders/import",
    response={200: ImportOut, 501: ErrorOut, **ERRORS},
    summary="Import order data",
    description="Needs the `knowledge` scope. A JSON document in one of the store formats "
    "that `manage.py import_orders` reads (Supportbot JSON or the tau2 retail export).",
)
def orders_import(request: HttpRequest, body: dict[str, Any]):
    scope_require(request, "knowledge")
    raise ApiError("not_available", "Order import is not available yet.", status=501)
