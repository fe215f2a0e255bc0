"""The reply engine: turns a conversation into a streamed assistant reply (contract).

`reply_stream` knows nothing of sockets or HTTP. It yields events from conversations.domain.events:
AssistantStarted, then AssistantDelta / ToolStarted / ToolFinished, then AssistantDone (or
Error). It persists everything itself: the assistant message (state streaming, then complete,
interrupted or failed), tool runs, usage, cost and the conversation's totals. It checks that the
bot owns the conversation before it starts and again before its final write: a human who took
over meanwhile wins (the reply ends interrupted with finish_reason "superseded"). Setting
`cancel` stops generation and keeps the partial text (interrupted, finish_reason "stopped").

In detail (docs/engine.md):
- A reply with tool rounds spans several assistant messages. AssistantStarted opens each
  message that shows something, right before its first delta (so a reply may begin with
  ToolStarted): a message that only carries tool calls is never announced, and no empty
  bubble shows while tools run. Tool events carry the seq of the message that made the
  calls. One AssistantDone ends the reply, for its last message (always announced), with the
  usage and cost of all rounds.
- A fault that ends a started reply yields an Error (a short, polite message for people, a
  code for programs) right before that AssistantDone. An Error with no AssistantStarted
  means no reply was attempted (message too long, moderated).
- Nothing at all is yielded when the bot does not own the conversation.

With `output=AgentDraft(...)` (outputs.py) the same loop writes an agent's copilot draft
instead: no message, read-only tools only, and only draft events (see agents/copilot.py).

The modules: loop.py (the reply loop), outputs.py (CustomerReply, AgentDraft), context.py
(history, budget, running summary), tokens.py (o200k_base offline), pricing.py, faults.py
(retries, customer messages), safety.py (prompt-leak guard), cache.py (repeated FAQ
questions), and backends/ (openai.py, offline.py) behind one interface.
"""

import asyncio
import logging

from django.conf import settings

from conversations.engine.loop import reply_stream
from conversations.engine.tokens import encoding


def engine_warm_up() -> None:
    """Load now what the first replies would otherwise load while others stream.

    The tokenizer (about half a second), the OpenAI backend's modules and, when called on the
    event loop that will serve (uvicorn imports the app there), that loop's client: its SSL
    context and connection pool cost about 0.2 s of CPU, which the first reply of a burst
    paid with every other stream of the process waiting. Elsewhere engine_loop_warm_up() does
    it at the first request.
    """
    encoding()
    if settings.SUPPORTBOT_ENGINE == "openai":
        from conversations.engine.backends import openai as _openai_backend  # noqa: F401

        engine_loop_warm_up()


def engine_loop_warm_up() -> None:
    """The OpenAI client of the running event loop, made now (nothing without a loop)."""
    if settings.SUPPORTBOT_ENGINE != "openai":
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    from conversations.engine.backends.openai import openai_client

    try:
        openai_client()
    except Exception:  # the first reply meets the same error and reports it
        logging.getLogger(__name__).warning("Making the OpenAI client failed", exc_info=True)


__all__ = ["engine_loop_warm_up", "engine_warm_up", "reply_stream"]
