"""Importing help-center articles: Markdown, HTML, text and PDF files, and help-center exports.

Every file is read and checked before anything is stored, so one bad file stores nothing.
Articles are matched on their source (the file's path under the folder given, or the help
center's URL), and an unchanged article is left alone: running an import again changes nothing.
"""

import json
import re
from pathlib import Path
from typing import Any

from conversations.importing import (
    ImportFileError,
    ImportReport,
    import_transaction,
    progress_bar,
)
from conversations.knowledge.articles import (
    ArticleError,
    ArticleFields,
    article_save,
    articles_index_queue,
)
from conversations.models import ArticleFormat, Bot

FILE_FORMATS = {
    ".md": ArticleFormat.MARKDOWN,
    ".markdown": ArticleFormat.MARKDOWN,
    ".html": ArticleFormat.HTML,
    ".htm": ArticleFormat.HTML,
    ".txt": ArticleFormat.TEXT,
    ".pdf": ArticleFormat.TEXT,
    ".json": "export",
}
MAX_FILE_BYTES = 20 * 1024 * 1024
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_TITLE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def article_files(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """The files to import with the source each is known by, and the paths that cannot be."""
    found: list[tuple[Path, str]] = []
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if file.is_file() and file.suffix.lower() in FILE_FORMATS:
                    found.append((file, relative.as_posix()))
        elif path.is_file():
            if path.suffix.lower() not in FILE_FORMATS:
                errors.append(f"{path}: not an article file (use {', '.join(FILE_FORMATS)})")
            else:
                found.append((path, path.name))
        else:
            errors.append(f"{path}: no such file or folder")
    return found, errors


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError([f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError([f"{path}: the file is not UTF-8 text"]) from None


def _pdf_text(path: Path) -> tuple[str, str]:
    """The text of a PDF's pages and its title from the metadata (if any)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise ImportFileError([f"{path}: not a readable PDF ({error})"]) from None
    return "\n\n".join(page.strip() for page in pages if page.strip()), title


def article_file_read(path: Path, *, source: str) -> list[ArticleFields]:
    """One file as articles (an export holds many); raises ImportFileError on a bad file."""
    kind = FILE_FORMATS[path.suffix.lower()]
    if kind == "export":
        return help_center_export_parse(document=_json(path), where=source)
    if path.suffix.lower() == ".pdf":
        body, title = _pdf_text(path)
        title = title or _title_from_name(path)
    else:
        body = _read_text(path)
        title = ""
        if kind == ArticleFormat.MARKDOWN and (match := _MD_TITLE.search(body)):
            title = match.group(1)
        elif kind == ArticleFormat.HTML and (match := _HTML_TITLE.search(body)):
            title = " ".join(_TAG.sub(" ", match.group(2)).split())
        title = title.strip() or _title_from_name(path)
    return [ArticleFields(source=source, title=title[:300], body=body, body_format=kind)]


def _json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ImportFileError(
            [f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"]
        ) from None


def help_center_export_parse(*, document: Any, where: str = "articles") -> list[ArticleFields]:
    """Articles from a help-center export: Zendesk ({"articles": [...]}, body HTML, html_url,
    locale, draft), Intercom ({"data": [...]}, body, url, state) or a plain list of
    {"title", "body", "format", "url", "locale", "published", "source"}.
    """
    if isinstance(document, dict):
        items = document.get("articles", document.get("data"))
    else:
        items = document
    if not isinstance(items, list):
        raise ImportFileError(
            [f'{where}: an export holds a list of articles (or {{"articles": [...]}})']
        )
    errors: list[str] = []
    articles: list[ArticleFields] = []
    for n, item in enumerate(items):
        place = f"{where}[{n}]"
        if not isinstance(item, dict):
            errors.append(f"{place}: must be an object")
            continue
        title, body = item.get("title"), item.get("body", item.get("body_html"))
        if not isinstance(title, str) or not isinstance(body, str):
            errors.append(f"{place}: needs a title and a body (text)")
            continue
        url = item.get("html_url") or item.get("url") or ""
        external = item.get("source") or url or item.get("id")
        source = str(external) if external not in (None, "") else f"{where}#{n}"
        fmt = item.get("format") or ("html" if "<" in body and ">" in body else "markdown")
        published = item.get("published", True)
        if item.get("draft") is True or item.get("state") in ("draft", "archived"):
            published = False
        if not isinstance(published, bool) or not isinstance(url, str):
            errors.append(f"{place}: published must be true or false and url text")
            continue
        locale = item.get("locale") or ""
        articles.append(
            ArticleFields(
                source=source[:500],
                title=title.strip(),
                body=body,
                body_format=str(fmt),
                url=url,
                locale=str(locale)[:20],
                is_published=published,
            )
        )
    if errors:
        raise ImportFileError(errors)
    return articles


def articles_problems(articles: list[ArticleFields]) -> list[str]:
    """Every article that cannot be stored, named by its source."""
    errors: list[str] = []
    seen: set[str] = set()
    for article in articles:
        if article.source in seen:
            errors.append(f"{article.source}: the same source appears more than once")
        seen.add(article.source)
        errors += [f"{article.source}: {problem}" for problem in article.problems()]
    return errors


def articles_check(articles: list[ArticleFields]) -> None:
    if errors := articles_problems(articles):
        raise ImportFileError(errors)


def articles_read(*, paths: list[Path], progress: bool = False) -> list[ArticleFields]:
    """Every article under these paths, checked; raises ImportFileError naming all problems."""
    files, errors = article_files(paths)
    if not files and not errors:
        errors.append("no article files found (.md, .html, .txt, .pdf or a .json export)")
    articles: list[ArticleFields] = []
    with progress_bar(total=len(files), desc="Reading articles", enabled=progress) as bar:
        for path, source in files:
            try:
                articles += article_file_read(path, source=source)
            except ImportFileError as error:
                errors += error.errors
            bar.update(1)
    errors += articles_problems(articles)
    if errors:
        raise ImportFileError(errors)
    return articles


def articles_store(
    *, bot: Bot, articles: list[ArticleFields], dry_run: bool = False, progress: bool = False
) -> ImportReport:
    """Upsert checked articles on (bot, source) in one transaction; a dry run rolls it back."""
    articles_check(articles)
    report = ImportReport(format="articles", dry_run=dry_run)
    counts = report.counts("articles")
    with (
        progress_bar(total=len(articles), desc="Importing articles", enabled=progress) as bar,
        import_transaction(dry_run=dry_run),
    ):
        to_index = []
        for fields in articles:
            try:
                article, outcome = article_save(bot=bot, fields=fields, index=False)
            except ArticleError as error:  # checked above; kept for a race with another writer
                raise ImportFileError([f"{fields.source}: {error}"]) from None
            if article.indexed_version < article.version:
                to_index.append(article.pk)
            if outcome == "created":
                counts.created += 1
            elif outcome == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1
            bar.update(1)
        # Indexed together after the commit: their passages are embedded in shared batches.
        articles_index_queue(article_ids=to_index)
    return report


def articles_import(
    *, bot: Bot, paths: list[Path], dry_run: bool = False, progress: bool = False
) -> ImportReport:
    """Import article files and folders for `bot`; a bad file stores nothing."""
    articles = articles_read(paths=paths, progress=progress)
    return articles_store(bot=bot, articles=articles, dry_run=dry_run, progress=progress)
