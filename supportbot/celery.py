"""The Celery app: tools run on the "tools" queue, background jobs on "background"."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")

app = Celery("supportbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes every database connection before and after each task unless
# this (un-namespaced) knob is set: on PostgreSQL that is a new backend process, several ms, on
# every tool run. The worker keeps its connections instead, closing them like Django closes a
# request's (below): when broken, or older than WORKER_DB_CONN_MAX_AGE.
app.conf.update({"CELERY_DB_REUSE_MAX": 2**62})
app.autodiscover_tasks()
# The tools' task lives one package down, beside the tools it runs.
app.autodiscover_tasks(["conversations.tools"])


@worker_init.connect
def database_connections_keep(**kwargs) -> None:
    """Before the pool forks: persistent connections for the worker's tasks.

    Not health-checked: a check is a `SELECT 1` round trip before every task's first query. A
    connection that died while the worker was idle fails that first query instead, which the
    tool run's claim tries once more on a new connection (tools/runs.py); Django closes a
    connection that failed after the task (below).
    """
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        database = connections.settings[alias]
        if database.get("OPTIONS", {}).get("pool") or database.get("CONN_MAX_AGE") is None:
            continue  # a pool (or SQLite's kept connection) keeps them already
        database["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE


@task_prerun.connect
@task_postrun.connect
def database_connections_tidy(*, task=None, **kwargs) -> None:
    """Close the connections that broke or grew old, as Django does around each request."""
    if task is None or getattr(task.request, "is_eager", False):
        return  # run in the caller's process: its connections are not ours to close
    from django.db import close_old_connections

    close_old_connections()
