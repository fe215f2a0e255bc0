from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from conversations.agents import checks  # noqa: F401  (registers the system checks)
        from conversations.domain import webhooks  # noqa: F401  (its Celery task)
