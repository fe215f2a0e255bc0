"""Generating realistic past conversations for the demo bot, for load and admin tests.

Seeded conversations belong to customers whose visitor id starts with "seed-", so a second run
with the same N adds nothing. Rows are bulk-inserted in batches of whole conversations, one
transaction per batch: 100,000 conversations take minutes, not hours (docs/performance.md).
"""

import hashlib
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone

from conversations.engine.pricing import cost_usd
from conversations.importing import progress_bar
from conversations.models import (
    Bot,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    MessageRole,
    Order,
    ToolRun,
    ToolRunStatus,
)

SEED_VISITOR_PREFIX = "seed-"
CONVERSATIONS_PER_CUSTOMER = 3
HISTORY_DAYS = 60
BATCH_SIZE = 1000
MODEL = "gpt-4o-mini"
AGENT_USERNAME = "demo-agent"


def token_cost(*, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """What a gpt-4o-mini call costs, at engine.pricing's prices."""
    return cost_usd(model=MODEL, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


@contextmanager
def _stored_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Keep the timestamps we set: auto_now(_add) would overwrite them with "now" on insert."""
    saved = []
    for model in model_classes:
        for model_field in model._meta.concrete_fields:
            if getattr(model_field, "auto_now", False) or getattr(
                model_field, "auto_now_add", False
            ):
                saved.append((model_field, model_field.auto_now, model_field.auto_now_add))
                model_field.auto_now = model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field, auto_now, auto_now_add in saved:
            model_field.auto_now, model_field.auto_now_add = auto_now, auto_now_add


@dataclass
class _Transcript:
    """One generated conversation before it becomes rows."""

    rng: random.Random
    clock: datetime
    messages: list[Message] = field(default_factory=list)
    tool_runs: list[ToolRun] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    context: int = 0

    def _tick(self, low: float, high: float) -> datetime:
        self.clock += timedelta(seconds=self.rng.uniform(low, high))
        return self.clock

    def add(self, role: str, text: str = "", **fields: Any) -> Message:
        at = fields.pop("at", None) or self._tick(2, 40)
        message = Message(
            seq=len(self.messages) + 1,
            role=role,
            text=text,
            created_at=at,
            updated_at=at,
            **fields,
        )
        self.messages.append(message)
        self.context += len(text) // 4 + 4
        return message

    def customer(self, text: str) -> Message:
        return self.add(MessageRole.CUSTOMER, text, at=self._tick(8, 90))

    def assistant(self, text: str, **fields: Any) -> Message:
        prompt = 450 + self.context + self.rng.randint(0, 120)
        completion = max(8, len(text) // 4 + self.rng.randint(0, 12))
        if fields.get("tool_calls"):
            completion += 18 * len(fields["tool_calls"])
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        ttft = self.rng.randint(250, 900)
        return self.add(
            MessageRole.ASSISTANT,
            text,
            at=self._tick(1, 4),
            model=MODEL,
            engine="openai",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=token_cost(prompt_tokens=prompt, completion_tokens=completion),
            ttft_ms=ttft,
            duration_ms=ttft + completion * self.rng.randint(8, 16),
            finish_reason="tool_calls" if fields.get("tool_calls") else "stop",
            **fields,
        )

    def tool(self, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> None:
        call_id = f"call_{self.rng.getrandbits(64):016x}"
        turn = self.assistant(
            "", tool_calls=[{"id": call_id, "name": name, "arguments": arguments}]
        )
        started = turn.created_at + timedelta(milliseconds=self.rng.randint(5, 60))
        duration = self.rng.randint(15, 400)
        self.tool_runs.append(
            ToolRun(
                message=turn,
                call_id=call_id,
                tool=name,
                arguments=arguments,
                result=result,
                status=ToolRunStatus.SUCCEEDED,
                worker="celery@seed",
                created_at=turn.created_at,
                started_at=started,
                finished_at=started + timedelta(milliseconds=duration),
                duration_ms=duration,
            )
        )
        self.add(MessageRole.TOOL, "", tool_call_id=call_id, data=result, at=self._tick(0.1, 1))

    def event(self, name: str, data: dict[str, Any], **fields: Any) -> Message:
        return self.add(MessageRole.EVENT, event=name, data=data, **fields)


@dataclass(frozen=True)
class _Order:
    number: str
    status: str
    tracking: str
    carrier: str
    item: str


GREETINGS = ["Hi", "Hello", "Hey there", "Good morning", "Hi!", ""]
THANKS = [
    "Thanks!",
    "Great, thank you.",
    "Perfect, thanks a lot",
    "ok thanks",
    "Thank you so much!",
]


def _order_status(t: _Transcript, order: _Order) -> dict[str, Any]:
    greeting = t.rng.choice(GREETINGS)
    t.customer(f"{greeting} where is my order {order.number}?".strip().capitalize())
    t.tool(
        "get_order",
        {"order_number": order.number},
        {
            "order": {
                "number": order.number,
                "status": order.status,
                "fulfillments": [{"tracking_numbers": [order.tracking], "carrier": order.carrier}],
            }
        },
    )
    if order.tracking:
        t.assistant(
            f"Your order {order.number} is {order.status}. It ships with {order.carrier}, "
            f"tracking number {order.tracking}."
        )
    else:
        t.assistant(
            f"Your order {order.number} is {order.status}: it has not shipped yet. "
            "You will get a tracking number by email as soon as it does."
        )
    if t.rng.random() < 0.6:
        t.customer(t.rng.choice(THANKS))
        t.assistant("You're welcome! Anything else I can help with?")
    return {"topic": "order status", "title": f"Where is order {order.number}", "resolved": True}


def _return(t: _Transcript, order: _Order) -> dict[str, Any]:
    t.customer(f"I'd like to return the {order.item} from order {order.number}.")
    t.tool(
        "get_order",
        {"order_number": order.number},
        {"order": {"number": order.number, "status": order.status}},
    )
    t.assistant(
        f"I can help with that. The {order.item} can be returned within 30 days of delivery. "
        "Should the refund go to the original payment method?"
    )
    t.customer(t.rng.choice(["Yes please", "Yes, original card", "yes"]))
    t.tool(
        "start_return",
        {"order_number": order.number, "item_ids": ["item"]},
        {"status": "return requested"},
    )
    t.assistant(
        "Done: the return is requested. You will receive a prepaid label by email; "
        "the refund arrives 5-7 business days after we receive the item."
    )
    return {"topic": "returns", "title": f"Return from {order.number}", "resolved": True}


FAQ_QUESTIONS = [
    ("How long does shipping take?", "Standard shipping takes 3-5 business days.", "shipping"),
    ("Do you ship internationally?", "We ship to the US and Canada for now.", "shipping"),
    ("What is your return policy?", "Unused items can be returned within 30 days.", "returns"),
    (
        "How do I change my address?",
        "Pending orders can change address before shipping.",
        "account",
    ),
    ("Which payment methods do you accept?", "Cards, PayPal and gift cards.", "payments"),
]


def _faq(t: _Transcript, order: _Order) -> dict[str, Any]:
    question, answer, topic = t.rng.choice(FAQ_QUESTIONS)
    t.customer(question if t.rng.random() < 0.5 else question.lower().rstrip("?"))
    t.tool(
        "search_faq",
        {"question": question},
        {"matches": [{"question": question, "answer": answer}], "no_good_match": False},
    )
    t.assistant(answer, sources=[{"title": question}])
    if t.rng.random() < 0.4:
        t.customer(t.rng.choice(THANKS))
    return {"topic": topic, "title": question.rstrip("?"), "resolved": True}


def _cancel(t: _Transcript, order: _Order) -> dict[str, Any]:
    t.customer(f"Can I still cancel {order.number}? I ordered the wrong size.")
    t.tool(
        "get_order",
        {"order_number": order.number},
        {"order": {"number": order.number, "status": order.status}},
    )
    if order.status == "pending":
        t.assistant(f"Yes, {order.number} has not shipped yet. Shall I cancel it?")
        t.customer("yes please")
        t.tool(
            "cancel_order",
            {"order_number": order.number, "reason": "ordered by mistake"},
            {"status": "cancelled"},
        )
        t.assistant("Your order is cancelled; the refund is on its way to your payment method.")
        return {"topic": "cancellation", "title": f"Cancel {order.number}", "resolved": True}
    t.assistant(
        f"{order.number} is already {order.status}, so it cannot be cancelled any more, "
        "but you can return it once it arrives."
    )
    return {"topic": "cancellation", "title": f"Cancel {order.number}", "resolved": False}


def _complaint(t: _Transcript, order: _Order) -> dict[str, Any]:
    t.customer(
        t.rng.choice(
            [
                f"My package for {order.number} arrived damaged. I want to talk to a person.",
                f"This is the second time {order.number} is late. Can I speak to someone?",
                "I was charged twice for my order, please get me a human",
            ]
        )
    )
    t.assistant("I'm sorry about that. I'm handing you over to a member of our team now.")
    return {"topic": "complaint", "title": f"Problem with {order.number}", "resolved": False}


SCENARIOS = [
    (_order_status, 40),
    (_faq, 22),
    (_return, 14),
    (_cancel, 10),
    (_complaint, 14),
]


def _agent_get() -> Any:
    user_model = get_user_model()
    agent, _ = user_model.objects.get_or_create(
        username=AGENT_USERNAME, defaults={"is_staff": True, "first_name": "Sam"}
    )
    return agent


def _demo_orders(bot: Bot) -> list[_Order]:
    orders = []
    for order in Order.objects.filter(bot=bot).prefetch_related("fulfillments", "lines")[:200]:
        shipment = next(iter(order.fulfillments.all()), None)
        line = next(iter(order.lines.all()), None)
        orders.append(
            _Order(
                number=order.number,
                status=order.status,
                tracking=(shipment.tracking_numbers or [""])[0] if shipment else "",
                carrier=shipment.carrier or "UPS" if shipment else "",
                item=line.name if line else "item",
            )
        )
    return orders or [_Order("#D1001", "delivered", "1Z999", "UPS", "mug")]


def _conversation_build(
    *, index: int, bot: Bot, customer_id: int, orders: list[_Order], agent: Any, now: datetime
) -> tuple[Conversation, _Transcript]:
    rng = random.Random(f"{bot.slug}:{index}")  # the same history wherever the bot's row lands
    start = now - timedelta(seconds=rng.uniform(600, HISTORY_DAYS * 86400))
    transcript = _Transcript(rng=rng, clock=start)
    scenario = rng.choices([s for s, _ in SCENARIOS], weights=[w for _, w in SCENARIOS])[0]
    outcome = scenario(transcript, rng.choice(orders))
    conversation = Conversation(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        bot=bot,
        customer_id=customer_id,
        created_at=start,
        title=outcome["title"],
        topic=outcome["topic"],
        resume_token_hash=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
    )
    age = now - start
    if scenario is _complaint:
        conversation.handoff_requested_at = transcript.event(
            "handoff_requested", {"summary": outcome["title"], "requested_by": "customer"}
        ).created_at
        conversation.sentiment = "negative"
        conversation.resolved_by_bot = False
        if age < timedelta(days=2) and rng.random() < 0.5:
            conversation.status = ConversationStatus.WAITING
        else:
            transcript.event("agent_joined", {"agent": agent.first_name}, author=agent)
            transcript.add(
                MessageRole.AGENT,
                "Hi, I'm Sam from the support team. I'm sorry for the trouble; "
                "I've arranged a replacement at no cost.",
                author=agent,
            )
            transcript.customer(rng.choice(THANKS))
            conversation.assigned_agent = agent
            conversation.status = ConversationStatus.AGENT
    else:
        conversation.resolved_by_bot = outcome["resolved"]
        conversation.sentiment = rng.choice(["positive", "positive", "neutral", "neutral"])
        conversation.status = ConversationStatus.BOT
    # Most conversations are long over; a few recent ones are still open for the admin's queues.
    still_open = age < timedelta(days=2) and rng.random() < 0.3
    if not still_open and conversation.status != ConversationStatus.WAITING:
        closed_by = "agent" if conversation.status == ConversationStatus.AGENT else "customer"
        agent_fields = {"author": agent} if closed_by == "agent" else {}
        conversation.closed_at = transcript.event(
            "closed", {"closed_by": closed_by}, **agent_fields
        ).created_at
        conversation.status = ConversationStatus.CLOSED
        if rng.random() < 0.35:
            rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 25, 12, 8, 10])[0]
            if conversation.sentiment == "negative":
                rating = min(rating, 3)
            conversation.csat_rating = rating
            conversation.csat_comment = rng.choice(
                ["", "", "Quick and helpful", "Fine", "Took too long", "Great service!"]
            )
            transcript.event("rated", {"rating": rating})
    for message in transcript.messages:
        message.conversation_id = conversation.id
    for run in transcript.tool_runs:
        run.conversation_id = conversation.id
    conversation.last_seq = len(transcript.messages)
    conversation.last_message_at = transcript.messages[-1].created_at
    conversation.updated_at = transcript.messages[-1].created_at
    conversation.prompt_tokens = transcript.prompt_tokens
    conversation.completion_tokens = transcript.completion_tokens
    conversation.cost_usd = sum(
        (m.cost_usd for m in transcript.messages if m.role == MessageRole.ASSISTANT), Decimal(0)
    )
    return conversation, transcript


def seeded_conversation_count(*, bot: Bot) -> int:
    return Conversation.objects.filter(
        bot=bot, customer__visitor_id__startswith=SEED_VISITOR_PREFIX
    ).count()


def _customers_ensure(
    *, bot: Bot, indexes: range, people: list[tuple[str, str]], now: datetime
) -> dict[int, int]:
    visitor_ids = {
        index: f"{SEED_VISITOR_PREFIX}{index // CONVERSATIONS_PER_CUSTOMER:07d}"
        for index in indexes
    }
    wanted = sorted(set(visitor_ids.values()))
    customers = []
    for visitor_id in wanted:
        number = int(visitor_id.removeprefix(SEED_VISITOR_PREFIX))
        # A quarter of the visitors were identified by the store, as a shop's customers.
        email, name = people[number % len(people)] if people and number % 4 == 0 else ("", "")
        customers.append(
            Customer(bot=bot, visitor_id=visitor_id, email=email, name=name, created_at=now)
        )
    Customer.objects.bulk_create(customers, ignore_conflicts=True)
    ids = dict(
        Customer.objects.filter(bot=bot, visitor_id__in=wanted).values_list("visitor_id", "id")
    )
    return {index: ids[visitor_id] for index, visitor_id in visitor_ids.items()}


def conversations_seed(
    *, bot: Bot, count: int, progress: bool = False, batch_size: int = BATCH_SIZE
) -> int:
    """Make sure `count` seeded conversations exist for `bot`; returns how many were added."""
    existing = seeded_conversation_count(bot=bot)
    if existing >= count:
        return 0
    now = timezone.now()
    agent = _agent_get()
    orders = _demo_orders(bot)
    people = [
        (email, f"{first} {last}".strip())
        for email, first, last in bot.store_customers.order_by("pk").values_list(
            "email", "first_name", "last_name"
        )[:500]
    ]
    with (
        _stored_timestamps(Customer, Conversation, Message, ToolRun),
        progress_bar(total=count - existing, desc="Conversations", enabled=progress) as bar,
    ):
        for start in range(existing, count, batch_size):
            indexes = range(start, min(start + batch_size, count))
            with transaction.atomic():
                customer_ids = _customers_ensure(bot=bot, indexes=indexes, people=people, now=now)
                built = [
                    _conversation_build(
                        index=index,
                        bot=bot,
                        customer_id=customer_ids[index],
                        orders=orders,
                        agent=agent,
                        now=now,
                    )
                    for index in indexes
                ]
                Conversation.objects.bulk_create([conversation for conversation, _ in built])
                Message.objects.bulk_create(
                    [message for _, transcript in built for message in transcript.messages],
                    batch_size=2000,
                )
                ToolRun.objects.bulk_create(
                    [run for _, transcript in built for run in transcript.tool_runs],
                    batch_size=2000,
                )
            bar.update(len(indexes))
    _statistics_refresh(Customer, Conversation, Message, ToolRun)
    return count - existing


def _statistics_refresh(*model_classes: type[models.Model]) -> None:
    """Refresh PostgreSQL's table statistics after a bulk load."""
    # Until autovacuum gets round to it, the planner believes the tables are still small and
    # picks nested loops that take minutes on 100,000 conversations (measured: 3 minutes for
    # the count that seed_demo runs first).
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in model_classes:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
