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


_NOT_ASCII_ALNUM = re.compile(r"[^a-z0-9]+")


def _letters_only(text: str) -> str:
    """_letters(text)[0], without the places (a regex for ASCII text)."""
    if text.isascii():
        return _NOT_ASCII_ALNUM.sub("", text.lower())
    return _letters(text)[0]


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
        # The letters a sentence starts with: while no partial match is alive, the walk jumps
        # to the next of them in C (a reply's digits and most of its letters start nothing).
        first_letters = "".join(re.escape(letter) for letter in self.trie)
        self.starts = re.compile(f"[{first_letters}]" if first_letters else "(?!)")

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
        # For each letter, its index in the raw text: filled only as far as a leak or a held
        # partial match needs it (where_seen raw characters so far), not at every token.
        self.where: list[int] = []
        self.where_seen = 0
        # Partial matches alive after the last letter: (trie node, index of their first letter).
        self.alive: list[tuple[dict, int]] = []
        self.leak: int | None = None
        self.safe = 0

    def _raw_index(self, text: str, letter: int) -> int:
        """Where the letter-th letter of the reply sits in its raw text."""
        if letter >= len(self.where):
            _, where = _letters(text[self.where_seen : self.seen])
            seen = self.where_seen
            self.where += [seen + i for i in where] if seen else where
            self.where_seen = self.seen
        return self.where[letter]

    def feed(self, text: str) -> tuple[int | None, int]:
        """Take the reply's whole text so far; returns (leak start or None, safe length).

        Both are indexes into `text`: a leak is cut there; text before the safe length may be
        sent now. With a leak, the safe length is where the quote or any other partial match
        held back at that point begins: what streaming token by token would have sent.
        """
        if self.leak is not None:
            return self.leak, self.safe
        letters = _letters_only(text[self.seen :])
        self.seen = len(text)
        root = self.guard.trie
        starts = self.guard.starts
        alive = self.alive
        first = self.letters  # the index of letters[0] among the reply's letters
        position, count = 0, len(letters)
        while position < count:
            if not alive:
                # Nothing alive: the next letter that starts a sentence is the next to walk.
                found = starts.search(letters, position)
                if found is None:
                    break
                position = found.start()
            letter = letters[position]
            index = first + position
            position += 1
            extended = []
            # The partial matches alive go on if they can; a new one may start at any letter.
            for node, start in (*alive, (root, index)) if alive else ((root, index),):
                child = node.get(letter)
                if child is None:
                    continue
                if _END in child:
                    held = [b for _, b in alive if index - b >= HOLD_MIN_CHARS]
                    self.letters = first + position
                    self.leak = self._raw_index(text, start)
                    self.safe = self._raw_index(text, min([start, *held]))
                    return self.leak, self.safe
                extended.append((child, start))
            alive = extended
        self.letters = first + count
        self.alive = alive
        held = [start for _, start in alive if self.letters - start >= HOLD_MIN_CHARS]
        return None, (self._raw_index(text, min(held)) if held else len(text))
