"""Help-center articles over the API: CRUD and bulk import, with the rules of the FAQ's."""

import uuid
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from conversations.importing import ImportFileError
from conversations.importing.articles import articles_store, help_center_export_parse
from conversations.knowledge.articles import (
    ArticleError,
    ArticleFields,
    article_link,
    article_save,
    article_update,
)
from conversations.models import Article, ArticleFormat
from conversations.transports.api.auth import scope_require
from conversations.transports.api.errors import ApiError, ErrorOut
from conversations.transports.api.knowledge import _import_out, _invalid_import
from conversations.transports.api.schemas import ImportOut, In

router = Router(tags=["knowledge"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}
FORMAT_PATTERN = "^(" + "|".join(ArticleFormat.values) + ")$"


class ArticleIn(In):
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=500_000)
    format: str = Field(ArticleFormat.MARKDOWN, pattern=FORMAT_PATTERN)
    source: str = Field(
        "",
        max_length=500,
        description="Your own id or the article's URL; imports match on it. Default: url, "
        "or a new id.",
    )
    url: str = Field("", max_length=1000, description="The article's public page.")
    locale: str = Field("", max_length=20)
    is_published: bool = True


class ArticlePatchIn(In):
    title: str | None = Field(None, min_length=1, max_length=300)
    body: str | None = Field(None, min_length=1, max_length=500_000)
    format: str | None = Field(None, pattern=FORMAT_PATTERN)
    source: str | None = Field(None, min_length=1, max_length=500)
    url: str | None = Field(None, max_length=1000)
    locale: str | None = Field(None, max_length=20)
    is_published: bool | None = None


class ArticleOut(Schema):
    id: int
    title: str
    body: str
    format: str
    text: str
    source: str
    url: str
    link: str = Field(description="Where sources point: url, or the product's article page.")
    locale: str
    is_published: bool
    version: int
    indexed: bool = Field(description="False while the newest version's passages are written.")
    created_at: datetime
    updated_at: datetime


class ArticlePage(Schema):
    items: list[ArticleOut]
    total: int
    next_offset: int | None


class ArticleImportIn(In):
    articles: list[dict] = Field(
        max_length=2000,
        description='A help-center export: Zendesk ({"title", "body", "html_url", "locale", '
        '"draft"}), Intercom ({"title", "body", "url", "state"}) or ours ({"title", "body", '
        '"format", "url", "locale", "published", "source"}).',
    )
    replace: bool = Field(False, description="Delete the articles not in this import.")
    dry_run: bool = Field(False, description="Check and count, store nothing.")


class ArticleFilters(In):
    q: str | None = Field(None, max_length=200, description="Text in the title.")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


def _out(article: Article) -> dict:
    return {
        "id": article.pk,
        "title": article.title,
        "body": article.body,
        "format": article.body_format,
        "text": article.text,
        "source": article.source,
        "url": article.url,
        "link": article_link(article),
        "locale": article.locale,
        "is_published": article.is_published,
        "version": article.version,
        "indexed": article.indexed_version == article.version,
        "created_at": article.created_at,
        "updated_at": article.updated_at,
    }


def _article(request: HttpRequest, article_id: int) -> Article:
    key = scope_require(request, "knowledge")
    article = Article.objects.select_related("bot").filter(pk=article_id, bot_id=key.bot_id)
    found = article.first()
    if found is None:
        raise ApiError("not_found", "No such article.", status=404)
    return found


def _refused(error: ArticleError) -> ApiError:
    return ApiError(
        error.code, error.message, status=409 if error.code == "duplicate_source" else 422
    )


@router.get("/articles", response={200: ArticlePage, **ERRORS}, summary="List articles")
def article_list(request: HttpRequest, filters: Query[ArticleFilters]):
    key = scope_require(request, "knowledge")
    qs = Article.objects.filter(bot_id=key.bot_id).select_related("bot").order_by("title", "pk")
    if filters.q:
        qs = qs.filter(title__icontains=filters.q)
    total = qs.count()
    page = list(qs[filters.offset : filters.offset + filters.limit])
    end = filters.offset + len(page)
    return {
        "items": [_out(a) for a in page],
        "total": total,
        "next_offset": end if end < total else None,
    }


@router.post(
    "/articles",
    response={201: ArticleOut, 409: ErrorOut, **ERRORS},
    summary="Create an article",
    description="Needs the `knowledge` scope. Its passages are indexed in the background "
    "(`indexed` turns true); searches use the previous version until then.",
)
def article_create(request: HttpRequest, body: ArticleIn):
    key = scope_require(request, "knowledge")
    source = body.source or body.url or f"api:{uuid.uuid4().hex}"
    if Article.objects.filter(bot_id=key.bot_id, source=source).exists():
        raise ApiError("duplicate_source", "This bot already has an article with that source.", 409)
    fields = ArticleFields(
        source=source,
        title=body.title,
        body=body.body,
        body_format=body.format,
        url=body.url,
        locale=body.locale,
        is_published=body.is_published,
    )
    try:
        article, _ = article_save(bot=key.bot, fields=fields)
    except ArticleError as error:
        raise _refused(error) from None
    article.refresh_from_db()  # indexed already when the task ran in-process
    return Status(201, _out(article))


@router.get(
    "/articles/{int:article_id}", response={200: ArticleOut, **ERRORS}, summary="Read an article"
)
def article_get(request: HttpRequest, article_id: int):
    return _out(_article(request, article_id))


@router.patch(
    "/articles/{int:article_id}",
    response={200: ArticleOut, 409: ErrorOut, **ERRORS},
    summary="Update an article",
)
def article_patch(request: HttpRequest, article_id: int, body: ArticlePatchIn):
    article = _article(request, article_id)
    changes = body.dict(exclude_unset=True, exclude_none=True)
    if "format" in changes:
        changes["body_format"] = changes.pop("format")
    try:
        with transaction.atomic():
            article = article_update(article=article, changes=changes)
    except ArticleError as error:
        raise _refused(error) from None
    article.refresh_from_db()
    return _out(article)


@router.delete(
    "/articles/{int:article_id}", response={204: None, **ERRORS}, summary="Delete an article"
)
def article_delete(request: HttpRequest, article_id: int):
    _article(request, article_id).delete()
    return Status(204, None)


@router.post(
    "/articles/import",
    response={200: ImportOut, **ERRORS},
    summary="Import articles in bulk",
    description="Needs the `knowledge` scope. Articles are matched on their source (or URL): "
    "new ones are created, changed ones get a new version, unchanged ones are left alone; with "
    "`replace`, articles not in the import are deleted. A bad article stores nothing (422 "
    "naming each problem); `dry_run` checks and counts without storing.",
)
def article_import(request: HttpRequest, body: ArticleImportIn):
    key = scope_require(request, "knowledge")
    try:
        articles = help_center_export_parse(document=body.articles)
        with transaction.atomic():
            report = articles_store(bot=key.bot, articles=articles, dry_run=body.dry_run)
            deleted = 0
            if body.replace and not body.dry_run:
                keep = {a.source for a in articles}
                stale = Article.objects.filter(bot_id=key.bot_id).exclude(source__in=keep)
                deleted = stale.delete()[1].get(Article._meta.label, 0)
    except ImportFileError as exc:
        raise _invalid_import(exc) from None
    return _import_out(report, deleted)
