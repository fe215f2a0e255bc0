"""Cutting an article into passages: clean text by section, then chunks of a few hundred tokens.

Markdown and HTML headings give each section its heading path ("Returns > Refunds"); a long
section is cut on paragraph and sentence boundaries into chunks that overlap by a sentence or
two, so a fact on a boundary is whole in at least one passage.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from django.utils.text import slugify

# Words, not tokens: a word is about 1.3 tokens, so 170 words is a passage of ~220 tokens.
PASSAGE_WORDS = 170
OVERLAP_WORDS = 30
SHORT_INTRO_WORDS = 40
HEADING_SEPARATOR = " > "

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


@dataclass(frozen=True, slots=True)
class Section:
    headings: tuple[str, ...]
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Chunk:
    heading: str
    anchor: str
    text: str


def _inline_markdown(text: str) -> str:
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    for _ in range(2):  # "**_both_**"
        text = _MD_EMPHASIS.sub(r"\2", text)
    return text


def _sections_from_lines(lines: list[tuple[int, str]]) -> list[Section]:
    """Lines tagged with a heading level (0: body text) into sections with heading paths."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush_paragraph() -> None:
        if current:
            paragraphs.append(
                " ".join(current) if not current[0].startswith("- ") else "\n".join(current)
            )
            current.clear()

    def flush_section() -> None:
        flush_paragraph()
        if paragraphs:
            sections.append(Section(tuple(h for _, h in path), tuple(paragraphs)))
            paragraphs.clear()

    for level, line in lines:
        if level:
            flush_section()
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, line))
        elif not line:
            flush_paragraph()
        else:
            if current and (line.startswith("- ") != current[-1].startswith("- ")):
                flush_paragraph()
            current.append(line)
    flush_section()
    return sections


def markdown_sections(body: str) -> list[Section]:
    lines: list[tuple[int, str]] = []
    fenced = False
    for raw in body.replace("\r\n", "\n").split("\n"):
        if _MD_FENCE.match(raw):
            fenced = not fenced
            continue
        line = raw.strip()
        heading = None if fenced else _MD_HEADING.match(line)
        if heading:
            lines.append((len(heading.group(1)), _inline_markdown(heading.group(2)).strip()))
            continue
        line = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "- ", line)
        line = re.sub(r"^>\s?", "", line)
        if re.fullmatch(r"[-*_=|: ]{3,}", line):  # rules and table separators
            line = ""
        lines.append((0, _inline_markdown(line).replace("|", " ").strip()))
    return _sections_from_lines(lines)


class _HtmlText(HTMLParser):
    BLOCKS = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "header",
            "footer",
            "main",
            "aside",
            "br",
            "tr",
            "table",
            "ul",
            "ol",
            "dl",
            "dd",
            "dt",
            "blockquote",
            "pre",
            "figure",
            "figcaption",
            "hr",
        }
    )
    SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._heading = 0
        self._skip = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        self._text.clear()
        self.lines.append((self._heading, text) if text or not self._heading else (0, ""))

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag == "li":
            self._flush()
            self._text.append("- ")
        elif tag in self.BLOCKS:
            self._flush()
            self.lines.append((0, ""))
        elif tag == "td" or tag == "th":
            self._text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = 0
        elif tag in self.BLOCKS or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)


def html_sections(body: str) -> list[Section]:
    parser = _HtmlText()
    parser.feed(body)
    parser.close()
    parser._flush()
    return _sections_from_lines(
        [(level, text) for level, text in parser.lines if text or not level]
    )


def text_sections(body: str) -> list[Section]:
    return _sections_from_lines(
        [(0, line.strip()) for line in body.replace("\r\n", "\n").split("\n")]
    )


def article_sections(*, body: str, body_format: str) -> list[Section]:
    """The article's sections (heading path, paragraphs of clean text) for its format."""
    if body_format == "html":
        return html_sections(body)
    if body_format == "markdown":
        return markdown_sections(body)
    return text_sections(body)


def sections_text(sections: list[Section]) -> str:
    """The article as clean text: each heading on its own line, then its paragraphs."""
    parts: list[str] = []
    for section in sections:
        if section.headings:
            parts.append(section.headings[-1])
        parts.extend(section.paragraphs)
    return "\n\n".join(parts)


def _sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(paragraph) if s.strip()]


def _pieces(paragraphs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(text, separator before it): paragraphs, any longer than a passage cut into sentences."""
    pieces: list[tuple[str, str]] = []
    for paragraph in paragraphs:
        if len(paragraph.split()) <= PASSAGE_WORDS:
            pieces.append((paragraph, "\n\n"))
        else:
            sentences = _sentences(paragraph)
            pieces.append((sentences[0], "\n\n"))
            pieces.extend((sentence, " ") for sentence in sentences[1:])
    return pieces


def _joined(pieces: list[tuple[str, str]]) -> str:
    return "".join((separator if n else "") + text for n, (text, separator) in enumerate(pieces))


def section_chunks(section: Section, *, title: str) -> list[Chunk]:
    """One section cut into passages of about PASSAGE_WORDS words, overlapping a little."""
    headings = section.headings
    if headings and headings[0].strip().lower() == title.strip().lower():
        headings = headings[1:]  # the article's own title as its first heading adds nothing
    heading = HEADING_SEPARATOR.join(headings)[:500]
    anchor = slugify(headings[-1])[:200] if headings else ""
    chunks: list[Chunk] = []
    current: list[tuple[str, str]] = []
    words = 0
    for piece in _pieces(section.paragraphs):
        size = len(piece[0].split())
        if current and words + size > PASSAGE_WORDS:
            chunks.append(Chunk(heading, anchor, _joined(current)))
            overlap: list[str] = []
            kept = 0
            for sentence in reversed(_sentences(current[-1][0])):
                if kept + len(sentence.split()) > OVERLAP_WORDS:
                    break
                overlap.insert(0, sentence)
                kept += len(sentence.split())
            current = [(" ".join(overlap), "")] if overlap else []
            words = kept
        current.append(piece)
        words += size
    if current:
        chunks.append(Chunk(heading, anchor, _joined(current)))
    return chunks


def article_chunks(*, title: str, body: str, body_format: str) -> tuple[str, list[Chunk]]:
    """The clean text of an article and its passages, in order."""
    sections = article_sections(body=body, body_format=body_format)
    text = sections_text(sections)
    first = sections[0] if sections else None
    if (
        first is not None
        and len(sections) > 1
        and not [h for h in first.headings if h.strip().lower() != title.strip().lower()]
        and sum(len(p.split()) for p in first.paragraphs) < SHORT_INTRO_WORDS
    ):
        # A short lead-in says what the article is about, rarely an answer: it joins the
        # first section instead of standing alone as a passage that only matches the title.
        second = sections[1]
        sections = [Section(second.headings, first.paragraphs + second.paragraphs), *sections[2:]]
    chunks = [chunk for section in sections for chunk in section_chunks(section, title=title)]
    return text, chunks
