"""A guard against a reply echoing the system prompt (the input rule is domain.messages')."""

import functools
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
    if text.isascii():  # NFKC leaves ASCII as it is, and lower() maps it letter for letter
        lowered = text.lower()
        where = [index for index, char in enumerate(lowered) if char.isalnum()]
        return "".join([lowered[index] for index in where]), where
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
    The sentences are a trie, walked one letter at a time: a streamed token costs the few
    partial matches alive at that point, not a scan of the reply.
    """

    def __init__(self, system_prompt: str) -> None:
        sentences = (_letters(s)[0] for s in SENTENCE.findall(system_prompt))
        self.sentences = sorted({s for s in sentences if len(s) >= LEAK_MIN_CHARS})
        self.trie: dict = {}
        for sentence in self.sentences:
            node = self.trie
            for letter in sentence:
                node = node.setdefault(letter, {})
            node[_END] = True

    def watch(self) -> "LeakWatch":
        return LeakWatch(self)


_END = ""  # the trie key that marks a whole sentence (never a letter)


@functools.lru_cache(maxsize=64)
def leak_guard_for(system_prompt: str) -> LeakGuard:
    """The guard of a system prompt, built once (a bot's prompt changes rarely)."""
    return LeakGuard(system_prompt)


class LeakWatch:
    """One reply's text as it streams: where a leak starts, and how much may be sent."""

    def __init__(self, guard: LeakGuard) -> None:
        self.guard = guard
        self.seen = 0  # raw characters fed so far
        self.letters = 0  # letters matched so far
        self.where: list[int] = []  # for each letter, its index in the raw text
        # Partial matches alive after the last letter: (trie node, index of their first letter).
        self.alive: list[tuple[dict, int]] = []
        self.leak: int | None = None
        self.safe = 0

    def feed(self, text: str) -> tuple[int | None, int]:
        """Take the reply's whole text so far; returns (leak start or None, safe length).

        Both are indexes into `text`: a leak is cut there; text before the safe length may be
        sent now. With a leak, the safe length is where the quote or any other partial match
        held back at that point begins: what streaming token by token would have sent.
        """
        if self.leak is not None:
            return self.leak, self.safe
        letters, where = _letters(text[self.seen :])
        seen = self.seen
        self.where += [seen + i for i in where] if seen else where
        self.seen = len(text)
        root = self.guard.trie
        alive = self.alive
        for letter in letters:
            index = self.letters
            self.letters += 1
            extended = []
            # The partial matches alive go on if they can; a new one may start at any letter.
            for node, start in (*alive, (root, index)) if alive else ((root, index),):
                child = node.get(letter)
                if child is None:
                    continue
                if _END in child:
                    held = [b for _, b in alive if index - b >= HOLD_MIN_CHARS]
                    self.leak = self.where[start]
                    self.safe = self.where[min([start, *held])]
                    return self.leak, self.safe
                extended.append((child, start))
            alive = extended
        self.alive = alive
        held = [start for _, start in self.alive if self.letters - start >= HOLD_MIN_CHARS]
        return None, (self.where[min(held)] if held else len(text))
