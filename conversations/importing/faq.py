"""Importing a bot's FAQ from JSON or CSV, upserted on (bot, question)."""

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conversations.domain.text import text_problem
from conversations.importing import (
    ImportFileError,
    ImportReport,
    import_transaction,
    in_batches,
    progress_bar,
)
from conversations.models import Bot, FaqEntry

FORMATS = ("auto", "json", "csv")
MAX_QUESTION = 300
CSV_COLUMNS = ("question", "answer", "alternatives", "tags", "published")
TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
BATCH_SIZE = 500


@dataclass
class FaqRecord:
    question: str
    answer: str
    alternatives: list[str]
    tags: list[str]
    published: bool


def faq_file_read(*, path: Path, format: str = "auto") -> list[FaqRecord]:
    """The checked entries of a FAQ file; raises ImportFileError naming every bad entry."""
    if format not in FORMATS:
        raise ImportFileError([f"unknown format {format!r}: use one of {', '.join(FORMATS)}"])
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise ImportFileError([f"{path}: cannot read the file ({error.strerror})"]) from error
    except UnicodeDecodeError as error:
        raise ImportFileError([f"{path}: the file is not UTF-8 text"]) from error
    if format == "auto":
        format = "json" if text.lstrip().startswith(("[", "{")) else "csv"
    if format == "json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ImportFileError(
                [f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"]
            ) from error
        return faq_entries_parse(entries=document)
    return faq_entries_parse(entries=_csv_rows(text), first_row=2, where_prefix="row ")


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    errors = []
    missing = [name for name in ("question", "answer") if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if missing:
        errors.append(f"header: missing required columns: {', '.join(missing)}")
    if unknown:
        errors.append(f"header: unknown columns: {', '.join(unknown)}")
    if errors:
        raise ImportFileError(errors)
    reader.fieldnames = header
    rows = []
    for row in reader:
        row = {key: (value or "").strip() for key, value in row.items() if key is not None}
        for column in ("alternatives", "tags"):
            row[column] = [part.strip() for part in row.get(column, "").split("|") if part.strip()]
        published = row.get("published", "")
        row["published"] = TRUE_WORDS.get(published.lower(), published) if published else True
        rows.append(row)
    return rows


def faq_entries_parse(
    *, entries: Any, first_row: int = 0, where_prefix: str = "entries["
) -> list[FaqRecord]:
    if not isinstance(entries, list):
        raise ImportFileError(['a FAQ file holds a JSON list of {"question", "answer", ...}'])
    errors: list[str] = []
    records: list[FaqRecord] = []
    seen: set[str] = set()
    closing = "]" if where_prefix.endswith("[") else ""
    for index, entry in enumerate(entries, start=first_row):
        where = f"{where_prefix}{index}{closing}"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be an object")
            continue
        unknown = set(entry) - set(CSV_COLUMNS)
        if unknown:
            errors.append(f"{where}: unknown keys {sorted(unknown)}")
        question, answer = entry.get("question"), entry.get("answer")
        if not isinstance(question, str) or not question.strip():
            errors.append(f"{where}: question is missing")
            continue
        question = question.strip()
        where = f"{where} ({question[:40]!r})"
        if problem := text_problem(entry):
            errors.append(f"{where}: {problem}")
            continue
        if len(question) > MAX_QUESTION:
            errors.append(f"{where}: question is longer than {MAX_QUESTION} characters")
        if question in seen:
            errors.append(f"{where}: the same question appears more than once")
        seen.add(question)
        if not isinstance(answer, str) or not answer.strip():
            errors.append(f"{where}: answer is missing")
            answer = ""
        lists = {}
        for key in ("alternatives", "tags"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors.append(f"{where}: {key} must be a list of text, got {value!r}")
                value = []
            lists[key] = [item.strip() for item in value if item.strip()]
        published = entry.get("published", True)
        if not isinstance(published, bool):
            errors.append(f"{where}: published must be true or false, got {published!r}")
        records.append(
            FaqRecord(
                question=question,
                answer=answer.strip(),
                alternatives=lists["alternatives"],
                tags=lists["tags"],
                published=published is True,
            )
        )
    if errors:
        raise ImportFileError(errors)
    return records


def faq_import(
    *,
    bot: Bot,
    path: Path,
    format: str = "auto",
    dry_run: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Import a FAQ file for `bot`; raises ImportFileError (storing nothing) on a bad file."""
    records = faq_file_read(path=path, format=format)
    return faq_records_import(bot=bot, records=records, dry_run=dry_run, progress=progress)


def faq_records_import(
    *, bot: Bot, records: list[FaqRecord], dry_run: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert checked entries on (bot, question); a dry run rolls everything back."""
    report = ImportReport(format="faq", dry_run=dry_run)
    report.counts("faq entries")
    with (
        progress_bar(total=len(records), desc="Importing FAQ", enabled=progress) as bar,
        import_transaction(dry_run=dry_run),
    ):
        for batch in in_batches(records, size=BATCH_SIZE):
            _faq_batch_upsert(bot=bot, records=batch, report=report)
            bar.update(len(batch))
    return report


def _faq_batch_upsert(*, bot: Bot, records: Sequence[FaqRecord], report: ImportReport) -> None:
    counts = report.counts("faq entries")
    stored = {
        entry.question: entry
        for entry in FaqEntry.objects.filter(
            bot=bot, question__in=[record.question for record in records]
        )
    }
    new = []
    for record in records:
        values = {
            "answer": record.answer,
            "alternatives": record.alternatives,
            "tags": record.tags,
            "is_published": record.published,
        }
        entry = stored.get(record.question)
        if entry is None:
            new.append(FaqEntry(bot=bot, question=record.question, **values))
            continue
        changed = [name for name, value in values.items() if getattr(entry, name) != value]
        if not changed:
            counts.unchanged += 1
            continue
        for name in changed:
            setattr(entry, name, values[name])
        # save() rather than bulk_update, so that updated_at moves.
        entry.save(update_fields=[*changed, "updated_at"])
        counts.updated += 1
    FaqEntry.objects.bulk_create(new)
    counts.created += len(new)
