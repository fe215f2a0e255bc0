"""Evaluation runs: a bot's answers measured on a case file, kept to compare over time."""

from django.db import models

from conversations.models.bots import Bot


class EvaluationRun(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="evaluation_runs")
    case_file = models.CharField(max_length=300, help_text="The JSONL file's name.")
    engine = models.CharField(max_length=20)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # top1, top3, off_topic_caught, good_refused, resolution, handoff_rate, tokens and cost per
    # conversation, latency p50/p95 (see conversations.domain.evaluation).
    metrics = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["bot", "case_file", "-started_at"], name="eval_run_bot")]

    def __str__(self) -> str:
        return f"{self.bot} · {self.case_file} · {self.started_at:%Y-%m-%d %H:%M}"


class EvaluationCaseResult(models.Model):
    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="cases")
    case_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)  # "question" or "scenario"
    passed = models.BooleanField()
    expected = models.JSONField(default=dict)
    got = models.JSONField(default=dict)
    latency_ms = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case_id"], name="eval_case_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {'pass' if self.passed else 'fail'}"
