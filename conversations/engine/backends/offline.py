"""The offline engine: no model, same interface. It reads the customer's message, calls the
same tools the model would (through the same tool path) and composes a grounded answer from
their results, streamed in word-sized pieces. When nothing matches well it says so and offers
a human instead of guessing.

It gets exactly what a model gets (a ModelRequest) and reads its cues from the messages as a
model would: the store and whether the customer is verified from the system prompt, this
reply's tool rounds and their results from the messages after the customer's last one.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from conversations.engine.backends import (
    BackendEvent,
    Finish,
    ModelRequest,
    TextDelta,
    ToolCallStarted,
    Usage,
)
from conversations.engine.language import language_note
from conversations.engine.tokens import prompt_tokens, token_count
from conversations.knowledge.passage_answers import passage_reply
from conversations.tools import ToolCall, ToolOutcome

ORDER_NUMBER = re.compile(
    r"#\s?([A-Z]{0,3}\d{3,})\b|\border\s*(?:number|no\.?|num|id)?\s*[:#]?\s*([A-Z]{0,3}\d{4,})\b",
    re.IGNORECASE,
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ZIP = re.compile(r"(?<![#\w])(\d{5})(?:-\d{4})?(?![\w])")
HUMAN = re.compile(
    r"\b(human|agent|person|people|representative|operator|someone real|real someone|staff|"
    r"customer service|talk to someone|speak to someone)\b",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening)|greetings)"
    r"( there)?[\s!.,:)]*$",
    re.IGNORECASE,
)
THANKS = re.compile(r"\b(thanks|thank you|thx|ty|cheers|appreciate it)\b", re.IGNORECASE)
GOODBYE = re.compile(r"^\s*(bye|goodbye|see you|that'?s all|nothing else|no,? that'?s it)\b", re.I)
RECENT_ORDERS = re.compile(
    r"\b(my orders|recent orders?|order history|last orders?|where('?s| is) my "
    r"(order|package|parcel|stuff|delivery)|track(ing)? my (order|package))\b",
    re.IGNORECASE,
)
# Beyond "where is my order": a policy question asked alongside an order number.
FAQ_TOPIC = re.compile(
    r"\b(return|refund|exchange|warrant|polic|cancel|size|sizing|discount|coupon|gift|"
    r"international|customs|damaged|broken|defect|wrong item|missing)\w*\b",
    re.IGNORECASE,
)

# An order action the customer asks for. The engine only proposes it through the tool; the
# customer's click on the confirm card decides. "Can I return the lamp?" stays a question.
CANCEL_REQUEST = re.compile(r"\bcancel(?!\w*\s+(?:polic|fee))", re.IGNORECASE)
RETURN_REQUEST = re.compile(
    r"\b(?:want|like|need|wish|going)\s+to\s+(?:return|send\b[\w\s]{0,20}\bback)\b|"
    r"\b(?:please|start|open|begin|make)\s+(?:a\s+)?return\b|"
    r"\breturn\s+(?:it|them|this|these|all|everything|order|my order|the order)\b",
    re.IGNORECASE,
)
# The line order_action_decide adds for the model once the customer answered a card.
DECISION = re.compile(
    r"answered the confirm card to (cancel|return items of) order (\S+?): (.+?)\.?$", re.DOTALL
)

# What engine.context.ENGINE_RULES says about the store and the customer.
STORE = re.compile(r"You are the support assistant of (.+?)\. Only help with")
VERIFIED = re.compile(r"^Customer: verified by ", re.MULTILINE)

I_DONT_KNOW = (
    "I'm not sure about that, and I'd rather not guess. Would you like me to connect you with "
    "a human agent?"
)
CLARIFY_OPENING = "I want to be sure I answer the right question. Do you mean"
CLARIFY_OPTIONS = re.compile(r"\d\) (.+?\?)(?: or |$)")
FIRST = re.compile(r"^\s*(1|one|first|the first( one)?|#1|option 1|the 1st|1st)\b", re.I)
SECOND = re.compile(r"^\s*(2|two|second|the second( one)?|#2|option 2|the 2nd|2nd)\b", re.I)
# Offers the engine makes and then must understand a yes or no to.
HUMAN_OFFER = re.compile(r"connect you with a human agent\?|would you like me to connect you", re.I)
YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|ok(ay)?|please( do)?|yes,? please|go ahead|that would be "
    r"(great|good|nice)|definitely|of course|absolutely|y)\b[\s\w,.!']*$",
    re.I,
)
NO = re.compile(
    r"^\s*(no|nope|nah|no thanks?|no,? thank you|not now|don'?t|never ?mind|i'?m (good|fine|ok))"
    r"\b[\s\w,.!']*$",
    re.I,
)


def order_number_find(text: str) -> str | None:
    match = ORDER_NUMBER.search(text)
    if not match:
        return None
    return "#" + (match.group(1) or match.group(2)).upper()


def _without_ids(text: str) -> str:
    return ZIP.sub(" ", EMAIL.sub(" ", ORDER_NUMBER.sub(" ", text)))


@dataclass(frozen=True, slots=True)
class Cues:
    """What the offline engine reasons from, read from the request's messages."""

    store_name: str = ""
    customer_verified: bool = False
    images: int = 0  # on the customer's last message
    round: int = 0  # tool rounds of this reply so far
    outcomes: list[ToolOutcome] = field(default_factory=list)  # the last round's results


def cues_read(messages: list[dict[str, Any]]) -> Cues:
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    store = STORE.search(system) if isinstance(system, str) else None
    last_user = max((n for n, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    content = messages[last_user].get("content") if last_user >= 0 else ""
    # Parts mean the message came with images (one whose file is missing keeps only its text).
    images = (
        max(1, sum(1 for part in content if part.get("type") == "image_url"))
        if isinstance(content, list)
        else 0
    )
    after = messages[last_user + 1 :]
    rounds = [
        n for n, m in enumerate(after) if m.get("role") == "assistant" and m.get("tool_calls")
    ]
    outcomes = []
    if rounds:
        names = {
            call.get("id"): call.get("function", {}).get("name", "")
            for call in after[rounds[-1]].get("tool_calls") or []
        }
        outcomes = [
            ToolOutcome(
                call_id=m.get("tool_call_id", ""),
                name=names.get(m.get("tool_call_id"), ""),
                status="",
                content=m.get("content") or "",
                label="",
                data=_json(m.get("content") or ""),
            )
            for m in after[rounds[-1] + 1 :]
            if m.get("role") == "tool"
        ]
    return Cues(
        store_name=store.group(1) if store else "",
        customer_verified=isinstance(system, str) and bool(VERIFIED.search(system)),
        images=images,
        round=len(rounds),
        outcomes=outcomes,
    )


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    texts = []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
        texts.append(content or "")
    return texts


def _money(amount: Any, currency: str = "USD") -> str:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency or "USD")
    return f"{symbol}{value:,.2f}" if symbol else f"{value:,.2f} {currency}"


def _options(options: Any) -> str:
    if isinstance(options, dict) and options:
        return " (" + ", ".join(f"{k}: {v}" for k, v in options.items()) + ")"
    return ""


def order_describe(order: dict[str, Any]) -> str:
    """An order as a short, plain-text answer: status, items, total, tracking."""
    number = order.get("number", "")
    status = order.get("status", "unknown")
    currency = order.get("currency") or "USD"
    lines = [f"Order {number} is {status}."]
    items = order.get("items") or []
    if items:
        lines.append("Items:")
        lines += [
            f"- {item.get('name', 'Item')}{_options(item.get('options'))}: "
            f"{_money(item.get('price', 0), currency)}"
            for item in items
        ]
    if order.get("total") not in (None, ""):
        lines.append(f"Total: {_money(order['total'], currency)}.")
    refunds = [p for p in order.get("payments") or [] if p.get("transaction_type") == "refund"]
    if refunds:
        refunded = sum(Decimal(str(p.get("amount", 0))) for p in refunds)
        lines.append(f"Refunded so far: {_money(refunded, currency)}.")
    tracking = [
        (number, fulfillment.get("carrier") or "")
        for fulfillment in order.get("fulfillments") or []
        for number in fulfillment.get("tracking_numbers") or []
    ]
    if tracking:
        lines.append("Tracking: " + ", ".join(f"{n} ({c})" if c else n for n, c in tracking) + ".")
    elif status.lower() in {"pending", "processing"}:
        lines.append("It hasn't shipped yet, so there is no tracking number so far.")
    return "\n".join(lines)


class _Plan:
    def __init__(self, *, text: str = "", calls: list[tuple[str, dict[str, Any]]] | None = None):
        self.text = text
        self.calls = calls or []


def order_action_wanted(texts: list[str]) -> str:
    """The order action the customer asks for ("cancel_order", "start_return" or ""): in their
    last message or, when that one names no order (only proof), in the one that named it."""
    if not texts:
        return ""
    asked = [texts[-1]]
    if not order_number_find(texts[-1]):
        asked += [t for t in reversed(texts[:-1]) if order_number_find(t)][:1]
    for text in asked:
        if CANCEL_REQUEST.search(text):
            return "cancel_order"
        if RETURN_REQUEST.search(text):
            return "start_return"
    return ""


def _plan_for_message(request: ModelRequest, cues: Cues, available: set[str]) -> _Plan:
    texts = _user_texts(request.messages)
    message = texts[-1] if texts else ""
    order = order_number_find(message)
    earlier_order = next(
        (found for found in map(order_number_find, reversed(texts[:-1])) if found), None
    )
    email_match = EMAIL.search(message)
    zip_match = ZIP.search(EMAIL.sub(" ", ORDER_NUMBER.sub(" ", message)))
    secret = email_match.group(0) if email_match else (zip_match.group(1) if zip_match else "")
    rest = " ".join(_without_ids(message).split())
    question = bool(FAQ_TOPIC.search(rest)) and len(rest.split()) >= 3
    store = cues.store_name or "our store"

    offered = _last_bot_text(request.messages)
    if HUMAN_OFFER.search(offered) and len(message.split()) <= 5:
        if YES.match(message) and not NO.match(message) and "handoff_to_human" in available:
            summary = " / ".join(t.strip() for t in texts[-3:-1] if t.strip())[:500]
            return _Plan(
                calls=[("handoff_to_human", {"summary": summary or "Customer accepted a human."})]
            )
        if NO.match(message):
            return _Plan(text="No problem. Is there anything else I can help you with?")
    if CLARIFY_OPENING in offered and "search_faq" in available:
        picked = _clarified_question(message, offered)
        if picked:
            return _Plan(calls=[("search_faq", {"question": picked})])

    if HUMAN.search(message) and "handoff_to_human" in available:
        summary = " / ".join(t.strip() for t in texts[-3:] if t.strip())[:500]
        return _Plan(
            calls=[("handoff_to_human", {"summary": summary or "Customer asked for a human."})]
        )
    if GREETING.match(message):
        return _Plan(
            text=f"Hi! I'm the {store} assistant. I can look up your orders (tell me the order "
            "number) and answer questions about shipping, returns and more. How can I help?"
        )
    if not order and not secret and THANKS.search(message) and len(message.split()) <= 8:
        return _Plan(text="You're welcome! Is there anything else I can help you with?")
    if not order and not secret and GOODBYE.match(message):
        return _Plan(text="Thanks for chatting with us. Have a great day!")

    order_number = order or (earlier_order if secret else None)
    if order_number:
        calls: list[tuple[str, dict[str, Any]]] = []
        if secret and "identify_customer" in available:
            calls.append(
                ("identify_customer", {"order_number": order_number, "email_or_zip": secret})
            )
        elif "get_order" in available:
            # The tools decide who may see it (a verified owner, or proven earlier here).
            calls.append(("get_order", {"order_number": order_number}))
        if calls:
            wanted = order_action_wanted(texts)
            # "Cancel #D1002" asks for the action, not for the FAQ's words about cancelling.
            if question and "search_faq" in available and wanted not in available:
                calls.append(("search_faq", {"question": rest}))
            return _Plan(calls=calls)
    if secret and not order_number:
        return _Plan(
            text="Thanks! Which order is this about? Please send me the order number "
            "(you'll find it in your confirmation email, e.g. #W1234567)."
        )
    if RECENT_ORDERS.search(message):
        if "list_recent_orders" in available:
            # Signed-in customers get theirs; others the orders proven in this conversation.
            return _Plan(calls=[("list_recent_orders", {})])
        return _Plan(
            text="I can check that for you. Please send me your order number and the email "
            "address or ZIP code on the order."
        )
    if cues.images and len(rest.split()) < 3:
        return _Plan(
            text="Thanks for the picture. I can't look at images myself, but a human agent "
            "can. Would you like me to connect you? If it's about an order, please also send "
            "me the order number."
        )
    if "search_faq" in available and rest:
        return _Plan(calls=[("search_faq", {"question": rest})])
    return _Plan(text=I_DONT_KNOW)


def _faq_reply(data: dict[str, Any]) -> str:
    """The router decided: the best entry's answer, a question between two, or "I don't know"."""
    matches = data.get("matches") or []
    if not matches or data.get("no_good_match"):
        return I_DONT_KNOW
    if data.get("ambiguous") and len(matches) > 1:
        first, second = (str(m.get("question", "")).strip().rstrip("?.") for m in matches[:2])
        return f"{CLARIFY_OPENING} 1) {first}? or 2) {second}?"
    return str(matches[0].get("answer", "")).strip() or I_DONT_KNOW


def _last_bot_text(messages: list[dict[str, Any]]) -> str:
    """What the bot said last before the customer's newest message."""
    seen_user = False
    for message in reversed(messages):
        if message.get("role") == "user":
            if seen_user:
                return ""
            seen_user = True
        elif seen_user and message.get("role") == "assistant" and message.get("content"):
            return str(message["content"])
    return ""


def _clarified_question(message: str, offered: str) -> str | None:
    """The entry question the customer picked from our "Do you mean 1) … or 2) …" offer."""
    options = CLARIFY_OPTIONS.findall(offered)
    if len(options) != 2:
        return None
    text = message.strip().lower()
    if FIRST.search(text):
        return options[0]
    if SECOND.search(text):
        return options[1]
    for option in options:
        if text and text.rstrip("?.! ") in option.lower():
            return option
    return None


def _compose(request: ModelRequest, cues: Cues, available: set[str], can_call: bool) -> _Plan:
    """The answer to the previous round's tool results (or the next calls they lead to)."""
    paragraphs: list[str] = []
    follow_up: list[tuple[str, dict[str, Any]]] = []
    for outcome in cues.outcomes:
        data = outcome.data or _json(outcome.content)
        if outcome.status not in ("succeeded", "") and not data:
            paragraphs.append(
                "Sorry, I couldn't finish that just now. Please try again in a moment, or I can "
                "connect you with a human agent."
            )
            continue
        if outcome.name == "identify_customer":
            number = data.get("order_number", "")
            if data.get("reason") == "too_many_attempts":
                paragraphs.append(
                    "Sorry, I can't check more details in this chat. A human agent can help "
                    "you: would you like me to connect you?"
                )
            elif data.get("verified"):
                if can_call and "get_order" in available:
                    follow_up.append(("get_order", {"order_number": number}))
                else:
                    paragraphs.append(f"Thanks, you're verified for order {number}.")
            else:
                paragraphs.append(
                    f"Sorry, those details don't match order {number}. Please check the order "
                    "number and the email address or ZIP code on the order. If you're stuck, "
                    "I can connect you with a human agent."
                )
        elif outcome.name == "get_order":
            number = _call_arguments(request, outcome.call_id).get("order_number", "that order")
            wanted = order_action_wanted(_user_texts(request.messages))
            if isinstance(data.get("order"), dict) and can_call and wanted in available:
                follow_up.append(_action_call(wanted, data["order"], request))
            elif isinstance(data.get("order"), dict):
                paragraphs.append(order_describe(data["order"]))
            elif not cues.customer_verified:
                paragraphs.append(
                    f"I can look up order {number} for you. To keep your details safe, please "
                    "tell me the email address or ZIP code on the order."
                )
            else:
                paragraphs.append(
                    f"I couldn't find order {number} among your orders. Please check the "
                    "number, or I can connect you with a human agent."
                )
        elif outcome.name == "list_recent_orders":
            orders = data.get("orders")
            if orders:
                lines = ["Here are your recent orders:"] + [
                    f"- {o.get('number')}: {o.get('status')}, {_money(o.get('total', 0))}"
                    for o in orders
                ]
                paragraphs.append("\n".join(lines))
            elif data.get("error"):
                paragraphs.append(
                    "Please send me your order number and the email address or ZIP code on "
                    "the order, so I can check who you are first."
                )
            else:
                paragraphs.append("I don't see any orders for you yet.")
        elif outcome.name == "search_faq":
            question = _call_arguments(request, outcome.call_id).get("question", "")
            if data.get("best") == "passage":
                paragraphs.append(passage_reply(question=question, data=data) or I_DONT_KNOW)
            else:
                paragraphs.append(_faq_reply(data))
        elif outcome.name == "handoff_to_human":
            paragraphs.append(
                "I've asked a human agent to join this conversation. They'll reply right here "
                "as soon as they can."
            )
        elif outcome.name in ("cancel_order", "start_return"):
            asked = _call_arguments(request, outcome.call_id).get("order_number", "")
            paragraphs.append(_proposal_reply(outcome.name, data, asked=str(asked)))
        else:
            message = data.get("message") or data.get("status")
            paragraphs.append(str(message) if message else "Done.")
    if follow_up:
        return _Plan(calls=follow_up)
    return _Plan(text="\n\n".join(p for p in paragraphs if p) or I_DONT_KNOW)


def _action_call(
    action: str, order: dict[str, Any], request: ModelRequest
) -> tuple[str, dict[str, Any]]:
    """The proposal for an order the customer may see: every item for a return (the card
    lists them before anything happens)."""
    number = str(order.get("number", ""))
    if action == "cancel_order":
        said = " ".join(_user_texts(request.messages)[-2:]).lower()
        reason = "ordered by mistake" if "mistake" in said else "no longer needed"
        return action, {"order_number": number, "reason": reason}
    items = [str(i["item_id"]) for i in order.get("items") or [] if i.get("item_id")]
    return action, {"order_number": number, "item_ids": items}


def _proposal_reply(action: str, data: dict[str, Any], *, asked: str = "") -> str:
    """What the customer reads next to the confirm card, or why there is no card."""
    number = str((data.get("details") or {}).get("order_number") or asked)
    if data.get("confirmation_required"):
        if action == "cancel_order":
            return (
                f"I can cancel order {number} for you. Please check the details on the card "
                'and choose "Cancel the order" to go ahead: nothing changes until you do.'
            )
        return (
            f"I can start a return for order {number}. Please check the card and choose "
            '"Start the return" to go ahead: nothing changes until you do.'
        )
    status = data.get("status")
    if data.get("error") == "not_cancellable" and status:
        instead = "Once it is delivered you can return it."
        if status == "delivered":
            instead = "You can return it instead"
            instead += f': say "return order {number}".' if number else "."
        return (
            f"This order is {status}, so it can't be cancelled any more. {instead} Would you "
            "like me to connect you with a human agent?"
        )
    if data.get("error") == "not_returnable" and status:
        return (
            f"This order is {status}: only delivered orders can be returned. Would you like me "
            "to connect you with a human agent?"
        )
    return (
        "Sorry, I couldn't set that up here. Would you like me to connect you with a human agent?"
    )


def _decision_reply(note: str) -> str:
    """The answer to the customer's click on a confirm card, from the code's note about it."""
    found = DECISION.search(note)
    if not found:
        return "Thanks. Is there anything else I can help you with?"
    verb, number, outcome = found.groups()
    if outcome == "done":
        if verb == "cancel":
            return f"Done: order {number} is cancelled. Is there anything else I can help with?"
        return f"Done: the return for order {number} is started. Anything else I can help with?"
    if outcome.startswith("declined"):
        return f"No problem, I've left order {number} as it is. Anything else I can help with?"
    return (
        f"Sorry, that didn't work: {outcome}. Would you like me to connect you with a human agent?"
    )


def _call_arguments(request: ModelRequest, call_id: str) -> dict[str, Any]:
    """The arguments of the call an outcome answers, from the round's assistant message."""
    for message in reversed(request.messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                return _json(call.get("function", {}).get("arguments", ""))
    return {}


def _json(content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def offline_plan(request: ModelRequest) -> tuple[str, list[ToolCall]]:
    """What the offline engine does next: the text to say, or the tool calls to make."""
    can_call = bool(request.tools) and request.tool_choice != "none"
    available = {t["function"]["name"] for t in request.tools} if can_call else set()
    cues = cues_read(request.messages)
    last = request.messages[-1] if request.messages else {}
    if last.get("role") == "system" and DECISION.search(str(last.get("content") or "")):
        # The customer answered a confirm card: the reply is about that, nothing else.
        plan = _Plan(text=_decision_reply(str(last["content"])))
    elif cues.round > 0 and cues.outcomes:
        plan = _compose(request, cues, available, can_call)
    else:
        plan = _plan_for_message(request, cues, available)
    calls = [
        ToolCall(id=f"call_offline_{cues.round}_{n}", name=name, arguments=json.dumps(args))
        for n, (name, args) in enumerate(plan.calls)
    ]
    return _with_language_note(plan.text, request), calls


def _with_language_note(text: str, request: ModelRequest) -> str:
    """The reply, plus a note in the customer's language if they write in one it cannot read."""
    said = _user_texts(request.messages)
    note = language_note(customer_text=said[-1]) if text and said else ""
    return f"{text}\n\n_{note}_" if note else text


PIECE = re.compile(r"\S+\s*|\s+")


class OfflineBackend:
    name = "offline"

    async def stream(self, request: ModelRequest) -> AsyncIterator[BackendEvent]:
        text, calls = offline_plan(request)
        prompt = prompt_tokens(request.messages, tools=request.tools)
        if calls:
            for n, call in enumerate(calls):
                yield ToolCallStarted(index=n, id=call.id, name=call.name)
            completion = sum(token_count(c.arguments) + 3 for c in calls)
            yield Usage(prompt_tokens=prompt, completion_tokens=completion)
            yield Finish(reason="tool_calls", tool_calls=calls)
            return
        delay = settings.SUPPORTBOT_OFFLINE_DELAY
        for n, piece in enumerate(PIECE.findall(text)):
            if delay and n:
                await asyncio.sleep(delay)
            yield TextDelta(piece)
        yield Usage(prompt_tokens=prompt, completion_tokens=token_count(text))
        yield Finish(reason="stop")

    async def summarize(self, *, model: str, previous: str, messages: list[dict[str, Any]]) -> str:
        from conversations.engine.context import summary_extractive

        return summary_extractive(previous=previous, messages=messages)

    async def moderate(self, *, text: str) -> bool:
        return False
