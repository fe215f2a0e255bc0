"""A guard against a reply echoing the system prompt (the input rule is domain.messages')."""

import re

SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
LEAK_MIN_CHARS = 40  # shorter fragments ("Keep answers short.") are too common to mean a leak


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
