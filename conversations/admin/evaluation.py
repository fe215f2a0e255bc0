"""Admin for evaluation runs: runs per bot over time, each case's outcome, the diff."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from conversations.domain.evaluation import evaluation_diff
from conversations.models import EvaluationCaseResult, EvaluationRun


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


class EvaluationCaseInline(admin.TabularInline):
    model = EvaluationCaseResult
    fields = ["case_id", "kind", "passed", "expected", "outcome", "latency_ms", "tokens"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="outcome")
    def outcome(self, case: EvaluationCaseResult) -> str:
        got = case.got
        if case.kind == "article":
            return format_html(
                "top 3: {} · cited: {} · missing: {} · reply: {}",
                " | ".join(got.get("top3", [])) or "—",
                " | ".join(got.get("cited", [])) or "—",
                ", ".join(got.get("missing_facts", [])) or "—",
                (got.get("reply") or "")[:160],
            )
        if case.kind == "question":
            return format_html(
                "top 3: {} · confidence {} · reply: {}",
                " | ".join(got.get("top3", [])) or "—",
                got.get("confidence"),
                (got.get("reply") or "")[:160],
            )
        return format_html(
            "tools: {} · missing: {} · leaked: {}",
            ", ".join(got.get("tools", [])) or "—",
            ", ".join(got.get("missing_facts", [])) or "—",
            ", ".join(got.get("leaked", [])) or "—",
        )


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "bot",
        "case_file",
        "engine",
        "top1",
        "top3",
        "off_topic_caught",
        "good_refused",
        "passage_top3",
        "passage_facts",
        "resolution",
        "cases",
    ]
    list_filter = ["bot", "case_file", "engine"]
    date_hierarchy = "started_at"
    fields = ["bot", "case_file", "engine", "started_at", "finished_at", "summary", "changes"]
    readonly_fields = fields
    inlines = [EvaluationCaseInline]

    def has_add_permission(self, request) -> bool:
        return False  # runs come from `manage.py evaluate`

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="top-1")
    def top1(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("top1"))

    @admin.display(description="top-3")
    def top3(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("top3"))

    @admin.display(description="off-topic caught")
    def off_topic_caught(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("off_topic_caught"))

    @admin.display(description="good refused")
    def good_refused(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("good_refused"))

    @admin.display(description="article in top-3")
    def passage_top3(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("passage_top3"))

    @admin.display(description="article facts in reply")
    def passage_facts(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("passage_facts"))

    @admin.display(description="resolution")
    def resolution(self, run: EvaluationRun) -> str:
        return _percent(run.metrics.get("resolution"))

    @admin.display(description="cases")
    def cases(self, run: EvaluationRun) -> int:
        return run.metrics.get("cases", 0)

    @admin.display(description="metrics")
    def summary(self, run: EvaluationRun) -> str:
        return format_html_join("", "<div><b>{}</b>: {}</div>", sorted(run.metrics.items()))

    @admin.display(description="changed since the previous run")
    def changes(self, run: EvaluationRun) -> str:
        diff = evaluation_diff(run)
        if not diff:
            return "Nothing changed (or no earlier run of this file)."
        return format_html_join(
            "",
            "<div>{}: {} → {}</div>",
            (
                (
                    d["case_id"],
                    "new" if d["before"] is None else ("pass" if d["before"] else "fail"),
                    "pass" if d["after"] else "fail",
                )
                for d in diff
            ),
        )
