"""Text the database can store: PostgreSQL refuses NUL and lone surrogates, SQLite keeps them.

Checked at every entrance (API, websocket, widget, imports) so that both databases take the
same input and bad input gets a clear error instead of a DataError half-way through a write.
"""

import re
from typing import Any

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: Any, *, depth: int = 0) -> str | None:
    """Why this text (or any string inside this JSON value) cannot be stored; None if it can."""
    if depth > MAX_DEPTH:
        return f"the value is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return "text may not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text must be valid Unicode (no lone surrogates)"
    elif isinstance(value, dict):
        for item in (*value.keys(), *value.values()):
            if problem := text_problem(item, depth=depth + 1):
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            if problem := text_problem(item, depth=depth + 1):
                return problem
    return None


def text_storable(text: str) -> str:
    """Text from a source that cannot be refused (the model's stream) made storable: NUL
    dropped, lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text)
