"""Importing store data (orders, FAQ) from files: shared results, errors and batching."""

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import transaction
from tqdm import tqdm

T = TypeVar("T")

MAX_ERRORS_SHOWN = 20


class ImportFileError(Exception):
    """The file cannot be imported as it is; nothing was stored. `errors` names each record."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(shown)
        text = "\n".join(f"  - {error}" for error in shown)
        if more:
            text += f"\n  ... and {more} more"
        noun = "problem" if len(self.errors) == 1 else "problems"
        super().__init__(f"{len(self.errors)} {noun} in the file, nothing was imported:\n{text}")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated


@dataclass
class ImportReport:
    """What an import did, per kind of record ("customers", "orders", ...)."""

    format: str
    kinds: dict[str, Counts] = field(default_factory=dict)
    dry_run: bool = False

    def counts(self, kind: str) -> Counts:
        return self.kinds.setdefault(kind, Counts())

    @property
    def changed(self) -> int:
        return sum(counts.changed for counts in self.kinds.values())

    def lines(self) -> list[str]:
        return [
            f"{kind}: {c.created} created, {c.updated} updated, {c.unchanged} unchanged"
            for kind, c in self.kinds.items()
        ]


class _DryRunRollback(Exception):
    """Raised inside the import's transaction of a dry run to undo every write."""


@contextmanager
def import_transaction(*, dry_run: bool) -> Iterator[None]:
    """The whole import in one transaction, so that a failure anywhere stores nothing.

    A dry run does all the work and then rolls the transaction back.
    """
    try:
        with transaction.atomic():
            yield
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass


def progress_default() -> bool:
    """Show progress bars only to a person watching a terminal."""
    return sys.stderr.isatty()


def in_batches(items: Sequence[T], *, size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def progress_bar(*, total: int, desc: str, enabled: bool) -> Any:
    return tqdm(total=total, desc=desc, unit=" rows", disable=not enabled, leave=False)
