"""The local OpenAI-protocol server, driven by the real openai SDK."""

import asyncio
import json
import time

import httpx
import openai
import pytest

from tests.openai_server import Reply, ToolCallSpec


def client_for(server, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="test", **kwargs)


async def collect(server, **kwargs):
    client = client_for(server)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    return [chunk async for chunk in stream]


async def test_streams_text_and_a_usage_chunk(openai_server):
    openai_server.script(Reply(text="Your order shipped today.", prompt_tokens=42))
    chunks = await collect(openai_server)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your order shipped today."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 42
    assert chunks[-1].usage.completion_tokens == 4
    request = openai_server.chat_requests()[0]
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.last_user_text == "hi"


async def test_parallel_tool_calls_arrive_split_across_chunks(openai_server):
    openai_server.script(
        Reply(
            tool_calls=[
                ToolCallSpec("get_order", {"order_number": "W2611340"}, id="call_a"),
                ToolCallSpec("search_faq", {"question": "return policy"}, id="call_b"),
            ],
            argument_piece=5,
        )
    )
    chunks = await collect(openai_server)
    calls: dict[int, dict] = {}
    pieces = 0
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
            pieces += 1
    assert pieces > 6
    assert calls[0]["id"] == "call_a" and calls[1]["name"] == "search_faq"
    assert json.loads(calls[0]["arguments"]) == {"order_number": "W2611340"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


async def test_rate_limit_is_retried_by_the_sdk_after_retry_after(openai_server):
    openai_server.script(Reply.rate_limited(retry_after=0.01), Reply(text="ok"))
    client = client_for(openai_server, max_retries=2)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "ok"
    assert len(openai_server.chat_requests()) == 2


async def test_errors_map_to_sdk_exceptions(openai_server):
    openai_server.script(Reply.server_error(), Reply.context_length_exceeded())
    with pytest.raises(openai.InternalServerError):
        await collect(openai_server)
    with pytest.raises(openai.BadRequestError) as error:
        await collect(openai_server)
    assert error.value.code == "context_length_exceeded"


async def test_a_cut_stream_raises_after_the_partial_text(openai_server):
    openai_server.script(Reply(text="one two three four five", cut_after=2))
    client = client_for(openai_server)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen = ""
    with pytest.raises((openai.APIConnectionError, httpx.HTTPError)):
        async for chunk in stream:
            seen += chunk.choices[0].delta.content or ""
    assert seen == "one two"


async def test_pacing_first_token_delay_and_tokens_per_second(openai_server):
    openai_server.script(Reply(text="a b c d e f", first_token_delay=0.2, tokens_per_second=50))
    client = client_for(openai_server)
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    times = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.monotonic() - started)
    # The server cannot send earlier than its schedule (a busy client may read later).
    assert times[0] >= 0.2
    assert times[-1] >= 0.2 + 5 / 50 * 0.9


async def test_slow_headers_trip_the_client_timeout(openai_server):
    openai_server.script(Reply(text="late", header_delay=1.0))
    client = client_for(openai_server, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )


async def test_refusal_and_content_filter(openai_server):
    openai_server.script(
        Reply(refusal="I can't help with that."),
        Reply(text="Partial", finish_reason="content_filter"),
    )
    chunks = await collect(openai_server)
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices) == (
        "I can't help with that."
    )
    chunks = await collect(openai_server)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


async def test_non_streaming_completion_and_rule(openai_server):
    openai_server.rule = lambda request: Reply(text="echo: " + request.last_user_text)
    client = client_for(openai_server)
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "echo: ping"
    assert completion.usage.total_tokens > 0


async def test_moderation_flags_configured_words(openai_server):
    openai_server.flagged_words = {"idiot"}
    client = client_for(openai_server)
    flagged = await client.moderations.create(input="you idiot")
    clean = await client.moderations.create(input="where is my order")
    assert flagged.results[0].flagged is True
    assert clean.results[0].flagged is False


async def test_many_concurrent_streams(openai_server):
    openai_server.rule = lambda request: Reply(text="x " * 20, tokens_per_second=200)
    client = client_for(openai_server)

    async def one():
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert all(r == "x " * 20 for r in results)
