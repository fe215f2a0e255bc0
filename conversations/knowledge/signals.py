"""Keeping stored vectors current: every saved FAQ entry queues its bot's refresh."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from conversations.knowledge.index import faq_vectors_refresh_queue
from conversations.models import FaqEntry

_VECTOR_FIELDS = frozenset({"embedding", "embedding_model", "embedding_hash"})


@receiver(post_save, sender=FaqEntry, dispatch_uid="faq_vectors_on_save")
def faq_entry_saved(
    sender: Any, instance: FaqEntry, update_fields: Any = None, **kwargs: Any
) -> None:
    if update_fields and set(update_fields) <= _VECTOR_FIELDS:
        return
    faq_vectors_refresh_queue(bot_id=instance.bot_id)
