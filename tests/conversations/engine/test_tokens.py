"""Token counting with o200k_base, offline."""

import socket

from conversations.engine import tokens


def test_known_strings_count_as_openai_counts_them():
    assert tokens.encoding().encode("Hello, world!") == [13225, 11, 2375, 0]
    assert tokens.encoding().encode("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    assert tokens.token_count("") == 0
    assert tokens.token_count("<|endoftext|>") > 1  # special tokens are counted as text


def test_loads_with_no_network_from_the_packaged_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.encoding.cache_clear()

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    try:
        assert tokens.token_count("Where is my order #W2611340?") == 10
        assert list(tmp_path.iterdir()) == []  # nothing written to tiktoken's cache
    finally:
        tokens.encoding.cache_clear()


def test_the_pattern_and_special_tokens_are_tiktokens_own(monkeypatch):
    import tiktoken_ext.openai_public as openai_public

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    theirs = openai_public.o200k_base()
    assert theirs["pat_str"] == tokens.O200K_PATTERN
    assert theirs["special_tokens"] == tokens.O200K_SPECIAL_TOKENS


def test_chat_messages_include_framing_tool_calls_and_images():
    plain = tokens.prompt_tokens([{"role": "user", "content": "Hello, world!"}])
    assert plain == 3 + 4 + 4  # priming + framing and role + content
    with_call = tokens.message_tokens(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"function": {"name": "get_order", "arguments": '{"order_number":"1"}'}}
            ],
        }
    )
    assert with_call > 10
    assert tokens.image_tokens(width=1024, height=1024, model="gpt-4.1-mini") == 85 + 170 * 4
    assert tokens.image_tokens(width=512, height=512, model="gpt-4o-mini") == 2833 + 5667
