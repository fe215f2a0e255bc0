"""The reply cache never serves one conversation's data, or an injected answer, to another."""

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.engine import reply_stream
from conversations.models import MessageRole
from tests import factories
from tests.openai_server import Reply, ToolCallSpec

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]

QUESTION = "How much does shipping cost?"
FRESH = "Standard shipping is free on orders over the threshold."


@pytest.fixture
def model(settings, openai_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_TIMEOUT = 5.0
    settings.OPENAI_MAX_RETRIES = 0
    settings.SUPPORTBOT_MODERATION = False
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 600
    cache.clear()
    openai_server.rule = lambda request: Reply(text=FRESH)
    yield openai_server
    cache.clear()


@sync_to_async
def a_store():
    bot = factories.bot_create()
    factories.faq_load(bot=bot)
    shopper = factories.store_customer_create(bot=bot, email="ana@example.com")
    order = factories.order_create(bot=bot, customer=shopper, tracking=["1Z999AA10123456784"])
    return bot, order


@sync_to_async
def a_conversation(bot, *, email=""):
    customer = factories.customer_create(
        bot=bot, email=email, verified_at=timezone.now() if email else None
    )
    return factories.conversation_create(bot=bot, customer=customer)


async def say(conversation, text):
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text
    )
    events = [e async for e in reply_stream(conversation_id=conversation.pk)]
    return events[-1]


def faq_round():
    return Reply(tool_calls=[ToolCallSpec("search_faq", {"question": QUESTION})])


async def test_a_verified_customers_answer_is_not_served_to_the_next_customer(model):
    bot, order = await a_store()
    ana = await a_conversation(bot, email="ana@example.com")
    model.script(
        Reply(tool_calls=[ToolCallSpec("list_recent_orders", {})]),
        Reply(text=f"Your order {order.number} is on its way."),
        faq_round(),
        Reply(
            text=f"Shipping is $5. Your order {order.number} ships with tracking "
            "1Z999AA10123456784, paid with the card ending in 4242."
        ),
    )
    await say(ana, "Where is my order?")
    await say(ana, QUESTION)

    stranger = await a_conversation(bot)
    done = await say(stranger, QUESTION)
    assert order.number not in done.text and "1Z999AA10123456784" not in done.text
    assert "4242" not in done.text


async def test_an_injected_link_is_not_served_from_the_cache(model):
    bot, _ = await a_store()
    model.script(
        faq_round(),
        Reply(text="Shipping refunds: log in at https://evil.example/refund to claim yours."),
    )
    await say(await a_conversation(bot), QUESTION)
    done = await say(await a_conversation(bot), QUESTION)
    assert "evil.example" not in done.text


async def test_a_grounded_first_answer_is_reused_without_a_model_call(model):
    bot, _ = await a_store()
    grounded = "Standard shipping is free on orders over $50 and $5.95 otherwise."
    model.script(faq_round(), Reply(text=grounded))
    await say(await a_conversation(bot), QUESTION)
    requests = len(model.requests)
    done = await say(await a_conversation(bot), QUESTION)
    assert done.text == grounded and len(model.requests) == requests
    # A verified customer reads the shared answer, but never writes one.
    cache.clear()
    model.script(faq_round(), Reply(text=grounded))
    await say(await a_conversation(bot, email="ana@example.com"), QUESTION)
    done = await say(await a_conversation(bot), QUESTION)
    assert done.text == FRESH
