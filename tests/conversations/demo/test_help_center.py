"""The demo help center: 15 to 25 articles on shipping, returns, warranty, payments and account."""

from conversations.demo.loader import DEMO_HELP_DIR
from conversations.importing.articles import articles_import, articles_read


def test_the_help_center_reads_cleanly_and_covers_the_topics():
    articles = articles_read(paths=[DEMO_HELP_DIR])
    assert 15 <= len(articles) <= 25
    folders = {a.source.split("/")[0] for a in articles}
    assert folders == {"shipping", "returns", "warranty", "payments", "account"}


def test_loading_it_twice_changes_nothing(bot):
    first = articles_import(bot=bot, paths=[DEMO_HELP_DIR])
    again = articles_import(bot=bot, paths=[DEMO_HELP_DIR])
    assert first.counts("articles").created == len(articles_read(paths=[DEMO_HELP_DIR]))
    assert again.changed == 0
