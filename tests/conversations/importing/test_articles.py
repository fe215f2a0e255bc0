"""import_articles: Markdown, HTML, text, PDF and help-center exports; all or nothing; rerun."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversations.importing import ImportFileError
from conversations.importing.articles import articles_import
from conversations.knowledge.passage_search import passage_search
from conversations.models import Article, Passage

# The passages are written by the task queued after the import's commit.
indexing = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.usefixtures("eager_tasks")

TAU2_POLICY = Path(__file__).resolve().parents[2] / "data" / "tau2-retail" / "policy.md"


def pdf_bytes(lines: list[str], *, title: str = "") -> bytes:
    """A minimal one-page PDF whose text pypdf can extract."""
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join("(" + line.replace("(", r"\(").replace(")", r"\)") + ") '" for line in lines)
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


@pytest.fixture
def help_folder(tmp_path):
    folder = tmp_path / "help"
    (folder / "shipping").mkdir(parents=True)
    (folder / "shipping" / "international.md").write_text(
        "# Shipping abroad\n\nWe ship to 40 countries.\n\n## Customs\n\nDuties are paid on "
        "delivery by the customer.\n"
    )
    (folder / "returns.html").write_text(
        "<html><head><title>Returns policy</title></head><body><h1>Returns policy</h1>"
        "<p>Return unused items within 30 days.</p><h2>Refunds</h2><p>Refunds take 5 days."
        "</p></body></html>"
    )
    (folder / "gift-cards.txt").write_text("Gift cards never expire.\n\nThey cannot be refunded.")
    (folder / "warranty.pdf").write_bytes(
        pdf_bytes(
            ["Our kettles carry a two year warranty.", "Keep your receipt."], title="Warranty"
        )
    )
    (folder / "LICENSE").write_text("not an article")
    return folder


@indexing
def test_a_folder_of_files_imports_as_articles_with_passages(bot, help_folder):
    report = articles_import(bot=bot, paths=[help_folder])
    assert report.counts("articles").created == 4
    articles = {a.source: a for a in Article.objects.filter(bot=bot)}
    assert set(articles) == {
        "gift-cards.txt",
        "returns.html",
        "shipping/international.md",
        "warranty.pdf",
    }
    assert articles["returns.html"].title == "Returns policy"
    assert articles["returns.html"].body_format == "html"
    assert articles["shipping/international.md"].title == "Shipping abroad"
    assert articles["warranty.pdf"].title == "Warranty"
    assert "two year warranty" in articles["warranty.pdf"].text
    assert articles["gift-cards.txt"].title == "Gift cards"
    hit = passage_search(bot_id=bot.pk, question="who pays customs duties").matches[0]
    assert (hit.title, hit.heading) == ("Shipping abroad", "Customs")
    assert hit.url == f"/help/{bot.slug}/{articles['shipping/international.md'].pk}/#customs"


@indexing
def test_running_again_changes_nothing_and_an_edit_makes_a_new_version(bot, help_folder):
    articles_import(bot=bot, paths=[help_folder])
    passages = set(Passage.objects.values_list("pk", flat=True))
    report = articles_import(bot=bot, paths=[help_folder])
    assert report.changed == 0 and report.counts("articles").unchanged == 4
    assert set(Passage.objects.values_list("pk", flat=True)) == passages

    (help_folder / "gift-cards.txt").write_text("Gift cards expire after five years.")
    report = articles_import(bot=bot, paths=[help_folder])
    assert (report.counts("articles").updated, report.counts("articles").unchanged) == (1, 3)
    assert Article.objects.get(source="gift-cards.txt").version == 2


def test_one_bad_file_stores_nothing(bot, help_folder):
    (help_folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (help_folder / "empty.md").write_text("   \n")
    with pytest.raises(ImportFileError) as raised:
        articles_import(bot=bot, paths=[help_folder])
    text = str(raised.value)
    assert "broken.pdf: not a readable PDF" in text
    assert "empty.md: the body is empty" in text
    assert not Article.objects.exists()


def test_dry_run_counts_and_stores_nothing(bot, help_folder):
    report = articles_import(bot=bot, paths=[help_folder], dry_run=True)
    assert report.counts("articles").created == 4
    assert not Article.objects.exists() and not Passage.objects.exists()


@indexing
def test_zendesk_and_intercom_exports(bot, tmp_path):
    zendesk = tmp_path / "zendesk.json"
    zendesk.write_text(
        json.dumps(
            {
                "articles": [
                    {
                        "id": 360001,
                        "title": "Track your order",
                        "body": "<p>Use the link in your <strong>shipping email</strong>.</p>",
                        "html_url": "https://help.example.com/hc/en-us/articles/360001",
                        "locale": "en-us",
                        "draft": False,
                    },
                    {"id": 360002, "title": "Draft", "body": "<p>Soon.</p>", "draft": True},
                ]
            }
        )
    )
    intercom = tmp_path / "intercom.json"
    intercom.write_text(
        json.dumps(
            {
                "type": "list",
                "data": [
                    {
                        "type": "article",
                        "id": "77",
                        "title": "Change your password",
                        "body": "<p>Open <em>Account</em> and choose Reset.</p>",
                        "url": "https://intercom.help/example/en/articles/77",
                        "state": "published",
                    }
                ],
            }
        )
    )
    articles_import(bot=bot, paths=[zendesk, intercom])
    track = Article.objects.get(title="Track your order")
    assert (track.source, track.locale, track.body_format) == (
        "https://help.example.com/hc/en-us/articles/360001",
        "en-us",
        "html",
    )
    assert track.text == "Use the link in your shipping email."
    assert not Article.objects.get(title="Draft").is_published
    hit = passage_search(bot_id=bot.pk, question="reset my password").matches[0]
    assert hit.url == "https://intercom.help/example/en/articles/77"


@indexing
def test_the_tau2_policy_imports_as_articles(bot):
    call_command("import_articles", str(TAU2_POLICY), "--bot", bot.slug, stdout=io.StringIO())
    article = Article.objects.get(bot=bot)
    assert article.title == "Retail agent policy"
    headings = set(Passage.objects.filter(article=article).values_list("heading", flat=True))
    assert {"Cancel pending order", "Return delivered order", "Domain basic > Product"} <= headings
    hit = passage_search(bot_id=bot.pk, question="can I exchange a delivered order").matches
    assert hit[0].heading == "Exchange delivered order"


def test_the_command_reports_and_refuses_bad_paths(bot, help_folder, tmp_path):
    out = io.StringIO()
    call_command("import_articles", str(help_folder), "--bot", bot.slug, "--dry-run", stdout=out)
    assert "articles: 4 created" in out.getvalue() and "Dry run" in out.getvalue()
    assert not Article.objects.exists()
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_articles", str(tmp_path / "missing"), "--bot", bot.slug)
    (tmp_path / "notes.docx").write_bytes(b"x")
    with pytest.raises(CommandError, match="not an article file"):
        call_command("import_articles", str(tmp_path / "notes.docx"), "--bot", bot.slug)
