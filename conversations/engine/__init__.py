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

from conversations.engine.loop import reply_stream
from conversations.engine.tokens import encoding


def engine_warm_up() -> None:
    """Load the tokenizer now (about half a second) rather than in the first reply."""
    encoding()


__all__ = ["engine_warm_up", "reply_stream"]
