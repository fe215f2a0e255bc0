"""A bot's help-center articles: saving one (a new version when its content changes) and
indexing its passages, switched in atomically once the whole version is written.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from conversations.domain.errors import DomainError
from conversations.knowledge.embedding import embedder_for
from conversations.knowledge.passage_vectors import passage_vectors_embed
from conversations.knowledge.passages import article_chunks
from conversations.models import Article, ArticleFormat, Bot, Passage

CONTENT_FIELDS = ("title", "body", "body_format")
OTHER_FIELDS = ("url", "locale", "is_published")
MAX_TITLE = 300
MAX_SOURCE = 500


class ArticleError(DomainError):
    """The article cannot be stored as given."""

    def __init__(self, message: str, code: str = "invalid_article") -> None:
        super().__init__(code, message)


@dataclass(frozen=True, slots=True)
class ArticleFields:
    """What an import or the API gives for one article, matched on (bot, source)."""

    source: str
    title: str
    body: str
    body_format: str = ArticleFormat.MARKDOWN
    url: str = ""
    locale: str = ""
    is_published: bool = True

    def problems(self) -> list[str]:
        found = []
        if not self.title.strip():
            found.append("title is missing")
        elif len(self.title) > MAX_TITLE:
            found.append(f"title is longer than {MAX_TITLE} characters")
        if not self.source.strip() or len(self.source) > MAX_SOURCE:
            found.append(f"source must be 1 to {MAX_SOURCE} characters")
        if self.body_format not in ArticleFormat.values:
            found.append(f"format must be one of {', '.join(ArticleFormat.values)}")
        if "\x00" in self.body or "\x00" in self.title:
            found.append("text may not contain NUL characters")
        elif not self.body.strip():
            found.append("the body is empty")
        elif not article_chunks(title=self.title, body=self.body, body_format=self.body_format)[1]:
            found.append("the body has no text")
        if self.url and not self.url.startswith(("https://", "http://")):
            found.append("url must start with https:// or http://")
        return found


def article_save(*, bot: Bot, fields: ArticleFields, index: bool = True) -> tuple[Article, str]:
    """Create or update the bot's article with this source; "created", "updated" or "unchanged".

    A change of title, body or format makes a new version and (unless `index` is off: an
    import queues its articles together) queues its indexing after the commit; the passages
    of the old version serve searches until the new ones are in.
    """
    problems = fields.problems()
    if problems:
        raise ArticleError("; ".join(problems))
    values: dict[str, Any] = {
        "title": fields.title.strip(),
        "body": fields.body,
        "body_format": fields.body_format,
        "url": fields.url,
        "locale": fields.locale,
        "is_published": fields.is_published,
    }
    with transaction.atomic():
        article = Article.objects.select_for_update().filter(bot=bot, source=fields.source).first()
        if article is None:
            article = Article(bot=bot, source=fields.source, **values)
            article.text = _clean_text(article)
            article.save()
            if index:
                articles_index_queue(article_ids=[article.pk])
            return article, "created"
        changed = [name for name, value in values.items() if getattr(article, name) != value]
        if not changed:
            return article, "unchanged"
        for name in changed:
            setattr(article, name, values[name])
        update = [*changed, "updated_at"]
        if set(changed) & set(CONTENT_FIELDS):
            article.version += 1
            article.text = _clean_text(article)
            update += ["version", "text"]
            if index:
                articles_index_queue(article_ids=[article.pk])
        article.save(update_fields=update)
        return article, "updated"


def article_update(*, article: Article, changes: dict[str, Any]) -> Article:
    """Apply some fields' changes (the API's PATCH, the admin's form) through article_save."""
    changes = dict(changes)
    source = changes.pop("source", article.source)
    current = {name: getattr(article, name) for name in (*CONTENT_FIELDS, *OTHER_FIELDS)}
    current.update(changes)
    if source != article.source:
        if Article.objects.filter(bot_id=article.bot_id, source=source).exists():
            raise ArticleError(
                "this bot already has an article with that source", code="duplicate_source"
            )
        Article.objects.filter(pk=article.pk).update(source=source)
    saved, _ = article_save(bot=article.bot, fields=ArticleFields(source=source, **current))
    return saved


def _clean_text(article: Article) -> str:
    text, _ = article_chunks(
        title=article.title, body=article.body, body_format=article.body_format
    )
    return text


# Articles per indexing task: their passages are embedded together (~5 each, so batches of
# the embedder's size are full), and a task stays well inside its time limit.
INDEX_CHUNK = 50


def articles_index_queue(*, article_ids: list[int]) -> None:
    """Index these articles' newest versions once this transaction commits (Celery tasks of
    up to INDEX_CHUNK articles; in-process after the commit on the embedded default)."""
    from conversations.knowledge.tasks import articles_index_task

    for start in range(0, len(article_ids), INDEX_CHUNK):
        chunk = list(article_ids[start : start + INDEX_CHUNK])
        # robust: a failure to queue (or, in-process, to index) is logged and never undoes or
        # fails the save; the articles_reindex sweep picks the articles up again.
        transaction.on_commit(lambda chunk=chunk: articles_index_task.delay(chunk), robust=True)


def article_index(*, article_id: int) -> int:
    """articles_index for one article."""
    return articles_index(article_ids=[article_id])


def articles_index(*, article_ids: list[int]) -> int:
    """Write the passages of each article's current version and switch searches over to them.

    The passages of all the articles are embedded in one call (the embedder batches them by
    length), then each article is written and switched in its own transaction. Idempotent: a
    version already indexed is left alone, and a run that died half-way is redone. The switch
    is one UPDATE guarded on the version, so an edit saved meanwhile wins (its own task
    indexes it). Returns the number of passages written.
    """
    articles = [
        article
        for article in Article.objects.filter(pk__in=article_ids).order_by("pk")
        if article.indexed_version != article.version
    ]
    if not articles:
        return 0
    chunks = {
        article.pk: article_chunks(
            title=article.title, body=article.body, body_format=article.body_format
        )[1]
        for article in articles
    }
    # Embedded before any transaction, so no write lock is held while the model runs; the
    # vectors go into the same rows the switch below makes visible.
    vectors = passage_vectors_embed(
        passages=[
            (article.title, chunk.heading, chunk.text)
            for article in articles
            for chunk in chunks[article.pk]
        ],
        embedder=embedder_for(),
    )
    written = 0
    start = 0
    for article in articles:
        count = len(chunks[article.pk])
        written += _article_switch(
            article=article,
            chunks=chunks[article.pk],
            vectors=vectors[start : start + count],
        )
        start += count
    return written


def _article_switch(
    *, article: Article, chunks: list[Any], vectors: list[tuple[bytes, str]]
) -> int:
    """Write one article version's passages and switch searches to them, all or nothing."""
    version = article.version
    with transaction.atomic():
        Passage.objects.filter(article_id=article.pk, version=version).delete()
        Passage.objects.bulk_create(
            Passage(
                article_id=article.pk,
                version=version,
                position=n,
                heading=chunk.heading,
                anchor=chunk.anchor,
                text=chunk.text,
                embedding=embedding,
                embedding_model=model,
            )
            for n, (chunk, (embedding, model)) in enumerate(zip(chunks, vectors, strict=True))
        )
        switched = Article.objects.filter(
            pk=article.pk, version=version, indexed_version__lt=version
        ).update(indexed_version=version, indexed_at=timezone.now())
        if switched:
            Passage.objects.filter(article_id=article.pk).exclude(version=version).delete()
    return len(chunks) if switched else 0


def article_link(article: Article, *, anchor: str = "") -> str:
    """Where a customer reads the article: its own URL, or the product's article page."""
    return article_link_for(
        url=article.url, bot_slug=article.bot.slug, article_id=article.pk, anchor=anchor
    )


def article_link_for(*, url: str, bot_slug: str, article_id: int, anchor: str = "") -> str:
    """article_link without loading the article (the search index keeps these fields)."""
    if url:
        return url + (f"#{anchor}" if anchor and "#" not in url else "")
    path = reverse("help-article", args=[bot_slug, article_id])
    return path + (f"#{anchor}" if anchor else "")


def articles_reindex_due(*, bot_id: int | None = None) -> list[int]:
    """Articles whose newest version has no passages yet (a lost task, an import's dry run)."""
    queryset = Article.objects.filter(indexed_version__lt=F("version"))
    if bot_id is not None:
        queryset = queryset.filter(bot_id=bot_id)
    return list(queryset.values_list("pk", flat=True))
