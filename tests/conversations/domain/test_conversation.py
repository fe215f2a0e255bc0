from conversations.domain.conversation import Identity, conversation_for_token, customer_identify
from conversations.edge.identity import identity_signature
from conversations.models import Conversation
from tests import factories


def test_resume_token_opens_only_its_conversation(bot, customer):
    conversation = factories.conversation_create(bot=bot, customer=customer)
    other = factories.conversation_create(bot=bot, customer=customer)
    token = conversation.resume_token
    assert conversation_for_token(conversation_id=conversation.pk, token=token) == conversation
    assert conversation_for_token(conversation_id=other.pk, token=token) is None
    assert conversation_for_token(conversation_id=conversation.pk, token="") is None
    stored = Conversation.objects.get(pk=conversation.pk)
    assert token not in stored.resume_token_hash


def test_inactive_bot_closes_its_conversations(bot, customer):
    conversation = factories.conversation_create(bot=bot, customer=customer)
    bot.is_active = False
    bot.save(update_fields=["is_active"])
    assert (
        conversation_for_token(conversation_id=conversation.pk, token=conversation.resume_token)
        is None
    )


def test_signed_identity_verifies_the_customer(bot):
    signature = identity_signature(secret=bot.identity_secret, value="ann@example.com")
    customer = customer_identify(
        bot=bot, visitor_id="v1", identity=Identity(email="ann@example.com", signature=signature)
    )
    assert customer.is_verified and customer.email == "ann@example.com"


def test_unsigned_or_forged_identity_stays_unverified(bot):
    forged = customer_identify(
        bot=bot, visitor_id="v2", identity=Identity(email="ann@example.com", signature="0" * 64)
    )
    assert not forged.is_verified
    other_bot = factories.bot_create()
    wrong_key = identity_signature(secret=other_bot.identity_secret, value="ann@example.com")
    assert not customer_identify(
        bot=bot, visitor_id="v3", identity=Identity(email="ann@example.com", signature=wrong_key)
    ).is_verified


def test_unverified_claim_cannot_overwrite_a_verified_email(bot):
    signature = identity_signature(secret=bot.identity_secret, value="ann@example.com")
    verified = customer_identify(
        bot=bot, visitor_id="v4", identity=Identity(email="ann@example.com", signature=signature)
    )
    claimed = customer_identify(
        bot=bot, visitor_id="v4", identity=Identity(email="mallory@example.com")
    )
    assert claimed.pk != verified.pk and not claimed.is_verified
    verified.refresh_from_db()
    assert verified.email == "ann@example.com" and verified.verified_by == "email"


def test_a_non_ascii_signature_is_simply_invalid(bot):
    from conversations.domain.conversation import Identity, customer_identify

    customer = customer_identify(
        bot=bot, visitor_id="v-utf8", identity=Identity(email="a@example.com", signature="é" * 64)
    )
    assert customer.is_verified is False
