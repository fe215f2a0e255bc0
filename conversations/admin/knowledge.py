"""What a bot knows, in the admin: FAQ entries (drafts learned from agents to review) and
help-center articles, saved through the same domain functions as imports and the API.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from conversations.knowledge.articles import (
    ArticleError,
    ArticleFields,
    article_link,
    article_save,
    article_update,
)
from conversations.models import Article, FaqEntry


class LinesField(forms.CharField):
    """A list of short texts, edited one per line (the model keeps a JSON list)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 5, "cols": 60}))
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(line) for line in value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]


class FaqEntryForm(forms.ModelForm):
    alternatives = LinesField(help_text="Other ways customers ask it, one per line.")
    tags = LinesField(help_text="One per line, e.g. shipping.")

    class Meta:
        model = FaqEntry
        fields = ["bot", "question", "answer", "alternatives", "tags", "is_published"]


@admin.register(FaqEntry)
class FaqEntryAdmin(admin.ModelAdmin):
    form = FaqEntryForm
    list_display = ["question", "bot", "is_published", "drafted_from_link", "updated_at"]
    list_filter = ["is_published", "bot", ("drafted_from", admin.EmptyFieldListFilter)]
    list_select_related = ["bot"]
    search_fields = ["question", "answer"]
    readonly_fields = ["drafted_from_link", "created_at", "updated_at"]
    fields = [
        "bot",
        "question",
        "answer",
        "alternatives",
        "tags",
        "is_published",
        "drafted_from_link",
        "created_at",
        "updated_at",
    ]
    actions = ["publish"]

    def get_changeform_initial_data(self, request):
        """The Unanswered page's "write an answer" link fills in the question and phrasings."""
        initial = super().get_changeform_initial_data(request)
        try:
            alternatives = json.loads(initial.get("alternatives") or "[]")
        except ValueError:
            alternatives = []
        if isinstance(alternatives, list):
            initial["alternatives"] = [str(a) for a in alternatives][:20]
        else:
            initial.pop("alternatives", None)
        return initial

    @admin.display(description="learned from")
    def drafted_from_link(self, entry: FaqEntry) -> str:
        if not entry.drafted_from_id:
            return "—"
        return format_html(
            '<a href="/agents/conversations/{}/">the resolved hand-off</a>', entry.drafted_from_id
        )

    @admin.action(description="Publish the selected entries")
    def publish(self, request, queryset) -> None:
        count = 0
        for entry in queryset.filter(is_published=False):
            entry.is_published = True
            entry.save(update_fields=["is_published", "updated_at"])  # moves the search index
            count += 1
        self.message_user(request, f"Published {count} entries.", messages.SUCCESS)


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ["bot", "title", "body", "body_format", "source", "url", "locale", "is_published"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            fields = ArticleFields(
                source=data["source"],
                title=data["title"],
                body=data["body"],
                body_format=data["body_format"],
                url=data.get("url") or "",
                locale=data.get("locale") or "",
                is_published=data["is_published"],
            )
            for problem in fields.problems():
                self.add_error(None, problem)
        return data


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleForm
    list_display = ["title", "bot", "locale", "is_published", "version", "indexed", "updated_at"]
    list_filter = ["is_published", "bot", "body_format", "locale"]
    list_select_related = ["bot"]
    search_fields = ["title", "source", "url"]
    readonly_fields = ["link", "version", "indexed_version", "indexed_at", "updated_at"]

    @admin.display(boolean=True)
    def indexed(self, article: Article) -> bool:
        return article.indexed_version == article.version

    @admin.display(description="read it at")
    def link(self, article: Article) -> str:
        if not article.pk:
            return "—"
        url = article_link(article)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def save_model(self, request, obj: Article, form, change: bool) -> None:
        """Through article_save: a content change makes a new version and indexes it."""
        data = form.cleaned_data
        try:
            if change:
                original = Article.objects.get(pk=obj.pk)
                changes = {name: data[name] for name in form.changed_data if name != "bot"}
                saved = article_update(article=original, changes=changes)
            else:
                saved, _ = article_save(
                    bot=data["bot"],
                    fields=ArticleFields(
                        source=data["source"],
                        title=data["title"],
                        body=data["body"],
                        body_format=data["body_format"],
                        url=data["url"],
                        locale=data["locale"],
                        is_published=data["is_published"],
                    ),
                )
        except ArticleError as error:  # checked by the form; a concurrent edit can still clash
            self.message_user(request, f"Not saved: {error.message}", messages.ERROR)
            return
        obj.pk = saved.pk
        obj.version = saved.version

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "bot"] if obj else fields
