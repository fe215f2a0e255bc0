"""`manage.py chat`: the engine from a terminal."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation, Customer

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, stdin=None, monkeypatch=None):
    out = StringIO()
    call_command("chat", *args, stdout=out)
    return out.getvalue()


def test_json_prints_one_event_per_line(offline_engine, bot, fake_tools):
    output = run("--bot", bot.slug, "--json", "What is your return policy?")
    events = [json.loads(line) for line in output.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["tool.started", "tool.finished", "assistant.started"]
    assert kinds[-1] == "assistant.done"
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == "search_faq" and started["arguments"]["question"]
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["result"]["matches"][0]["id"] == 7
    done = events[-1]
    assert done["cost_usd"] == "0.00000000" and done["prompt_tokens"] > 0
    assert "30 days" in done["text"]


def test_email_makes_a_verified_customer(offline_engine, bot, fake_tools):
    output = run("--bot", bot.slug, "--email", "ann@example.com", "status of #W2611340")
    assert "Order #W2611340 is delivered." in output and "(offline engine)" in output
    customer = Customer.objects.get(bot=bot, email="ann@example.com")
    assert customer.is_verified
    assert [name for name, _ in fake_tools.calls] == ["get_order"]


def test_interactive_until_exit(offline_engine, bot, monkeypatch):
    answers = iter(["hello", "thanks!", "exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    output = run("--bot", bot.slug)
    assert output.count("bot (offline engine)> ") == 2
    assert "How can I help?" in output and "You're welcome" in output
    assert Conversation.objects.get(bot=bot).messages.count() == 4


def test_too_long_and_unknown_bot(offline_engine, settings, bot):
    settings.SUPPORTBOT_MAX_MESSAGE_CHARS = 10
    output = run("--bot", bot.slug, "--json", "x" * 11)
    assert json.loads(output)["code"] == "too_long"
    with pytest.raises(CommandError):
        run("--bot", "nope", "hi")


def test_the_same_conversation_runs_through_an_openai_compatible_server(
    openai_engine, bot, fake_tools
):
    from tests.openai_server import Reply, ToolCallSpec

    openai_engine.script(
        Reply(tool_calls=[ToolCallSpec("get_order", {"order_number": "#W2611340"}, id="c1")]),
        Reply(text="Your order #W2611340 was delivered.", prompt_tokens=300, completion_tokens=9),
    )
    output = run("--bot", bot.slug, "--email", "ann@example.com", "--json", "where is #W2611340")
    events = [json.loads(line) for line in output.splitlines()]
    assert next(e for e in events if e["type"] == "assistant.started")["engine"] == "openai"
    assert [e["type"] for e in events if e["type"].startswith("tool.")] == [
        "tool.started",
        "tool.finished",
    ]
    done = events[-1]
    assert done["text"] == "Your order #W2611340 was delivered."
    assert done["state"] == "complete" and float(done["cost_usd"]) > 0
    system = openai_engine.chat_requests()[0].body["messages"][0]["content"]
    assert "verified by" in system and "ann@example.com" in system
