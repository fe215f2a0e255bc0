"""The product's own help-center pages: the article view sources link to when there is no URL."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from conversations.knowledge.passages import article_sections
from conversations.models import Article, Bot


def _bot(slug: str) -> Bot:
    return get_object_or_404(Bot, slug=slug, is_active=True)


@require_GET
def help_center(request: HttpRequest, bot_slug: str) -> HttpResponse:
    bot = _bot(bot_slug)
    articles = Article.objects.filter(bot=bot, is_published=True).only("pk", "title")
    return render(request, "help/index.html", {"bot": bot, "articles": articles})


@require_GET
def help_article(request: HttpRequest, bot_slug: str, article_id: int) -> HttpResponse:
    """One published article, rendered from its clean text (never its raw HTML)."""
    bot = _bot(bot_slug)
    article = get_object_or_404(Article, pk=article_id, bot=bot, is_published=True)
    sections = []
    for section in article_sections(body=article.body, body_format=article.body_format):
        headings = section.headings
        if headings and headings[0].strip().lower() == article.title.strip().lower():
            headings = headings[1:]
        heading = headings[-1] if headings else ""
        sections.append(
            {"heading": heading, "anchor": slugify(heading)[:200], "paragraphs": section.paragraphs}
        )
    return render(
        request, "help/article.html", {"bot": bot, "article": article, "sections": sections}
    )
