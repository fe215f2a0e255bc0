"""Checks around the model: the input limit, and a guard against echoing the system prompt."""

import re

from django.conf import settings

SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
LEAK_MIN_CHARS = 40  # shorter fragments ("Keep answers short.") are too common to mean a leak


class InputRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def message_check(*, text: str, images: int = 0) -> None:
    """Refuse a customer message the engine will not send on; raises InputRejected."""
    limit = settings.SUPPORTBOT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise InputRejected(
            "message_too_long",
            f"Your message is too long ({len(text):,} characters). Please keep it under "
            f"{limit:,} characters, or split it into a few messages.",
        )
    if not text.strip() and not images:
        raise InputRejected("message_empty", "Please type a message.")


class LeakGuard:
    """Spots a reply that starts quoting the system prompt, so the reply can be stopped."""

    def __init__(self, system_prompt: str) -> None:
        sentences = (
            " ".join(s.split()).lower().lstrip("-*• ") for s in SENTENCE.findall(system_prompt)
        )
        self.sentences = [s for s in sentences if len(s) >= LEAK_MIN_CHARS]

    def leaked_at(self, text: str) -> int | None:
        """Where in the text a sentence of the prompt begins, or None."""
        flat = " ".join(text.split()).lower()
        for sentence in self.sentences:
            found = flat.find(sentence)
            if found >= 0:
                # Map back to the original text roughly: the prefix before the quote.
                prefix_words = len(flat[:found].split())
                words = text.split()
                kept = " ".join(words[:prefix_words])
                return len(kept)
        return None
