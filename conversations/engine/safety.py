"""A guard against a reply echoing the system prompt (the input rule is domain.messages')."""

import re
import unicodedata

SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
# Letters and digits of a sentence: shorter ones ("Keep answers short.") are too common to mean
# a leak.
LEAK_MIN_CHARS = 32
# A tail this long or longer that begins a sentence of the prompt is held back; a shorter one
# ("you", "nev") says nothing and streams at once.
HOLD_MIN_CHARS = 4


def _letters(text: str) -> tuple[str, list[int]]:
    """The text as matched: NFKC, lower case, letters and digits only; and where each came from.

    Spaces, punctuation, zero-width and other format characters and combining marks are all
    dropped, so none of them between the words of a quoted sentence hides it.
    """
    kept: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFKC", char):
            for letter in part.lower():
                if letter.isalnum():
                    kept.append(letter)
                    where.append(index)
    return "".join(kept), where


class LeakGuard:
    """Spots a reply that quotes the system prompt, and holds back what might begin a quote.

    Matching is on letters and digits only (see _letters). A sentence of the prompt found in
    the reply stops it there; until the reply's end, the tail that could still be the start
    of a sentence is held back, so no part of a quoted sentence ever reaches the client.
    """

    def __init__(self, system_prompt: str) -> None:
        sentences = (_letters(s)[0] for s in SENTENCE.findall(system_prompt))
        self.sentences = sorted({s for s in sentences if len(s) >= LEAK_MIN_CHARS})
        self.prefixes = {s[:n] for s in self.sentences for n in range(1, len(s))}
        self.longest = max((len(s) for s in self.sentences), default=0)

    def watch(self) -> "LeakWatch":
        return LeakWatch(self)


class LeakWatch:
    """One reply's text as it streams: where a leak starts, and how much may be sent."""

    def __init__(self, guard: LeakGuard) -> None:
        self.guard = guard
        self.seen = 0  # raw characters fed so far
        self.letters = ""
        self.where: list[int] = []

    def feed(self, text: str) -> tuple[int | None, int]:
        """Take the reply's whole text so far; returns (leak start or None, safe length).

        Both are indexes into `text`: a leak is cut there; text before the safe length may be
        sent now.
        """
        before = len(self.letters)
        letters, where = _letters(text[self.seen :])
        self.letters += letters
        self.where += [self.seen + i for i in where]
        self.seen = len(text)
        for sentence in self.guard.sentences:
            found = self.letters.find(sentence, max(0, before - len(sentence) + 1))
            if found >= 0:
                return self.where[found], self.where[found]
        tail = len(self.letters)
        for start in range(max(0, tail - self.guard.longest), tail - HOLD_MIN_CHARS + 1):
            if self.letters[start:] in self.guard.prefixes:
                return None, self.where[start]
        return None, len(text)
