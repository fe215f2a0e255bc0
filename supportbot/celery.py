"""The Celery app: tools run on the "tools" queue, background jobs on "background"."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")

app = Celery("supportbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The tools' task lives one package down, beside the tools it runs.
app.autodiscover_tasks(["conversations.tools"])
