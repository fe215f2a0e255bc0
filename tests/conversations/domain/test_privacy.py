from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from conversations.agents.tasks import retention_apply_task
from conversations.domain.conversation import conversation_for_token
from conversations.domain.privacy import customer_erase, retention_apply
from conversations.domain.status import handoff_request
from conversations.models import (
    Attachment,
    Conversation,
    Customer,
    Message,
    MessageRole,
    ReplyDraft,
    RetentionAction,
)
from tests.agents_fixtures import chat_create


def _aged(conversation, days):
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def _image(conversation, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    message = conversation.messages.filter(role=MessageRole.CUSTOMER).first()
    attachment = Attachment(
        conversation=conversation, message=message, content_type="image/png", size=3, sha256="0"
    )
    attachment.file.save("x.png", ContentFile(b"png"), save=True)
    return attachment


def test_retention_anonymises_old_conversations_and_keeps_the_figures(bot, settings, tmp_path):
    bot.retention_days = 30
    bot.save()
    old = chat_create(
        bot=bot,
        texts=["my address is 1 Main St"],
        email="old@example.com",
        csat_rating=4,
        csat_comment="Jane Doe here",
        topic="shipping",
        title="Address of Jane",
        prompt_tokens=500,
    )
    attachment = _image(old, settings, tmp_path)
    path = attachment.file.path
    draft = ReplyDraft.objects.create(conversation=old, text="Jane, your parcel to 1 Main St")
    recent = chat_create(bot=bot, texts=["hello"], email="new@example.com")
    _aged(old, 40)
    _aged(recent, 5)

    assert old.messages.filter(tokens__isnull=False).exists()

    assert retention_apply() == {bot.slug: 1}
    old.refresh_from_db()
    assert old.anonymised_at is not None
    assert set(old.messages.values_list("tokens", flat=True)) == {None}
    assert (old.title, old.csat_comment) == ("", "")
    assert (old.topic, old.csat_rating, old.prompt_tokens, old.last_seq) == ("shipping", 4, 500, 2)
    assert set(old.messages.values_list("text", flat=True)) == {""}
    draft.refresh_from_db()
    assert draft.text == ""
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not (tmp_path / path).exists()
    customer = Customer.objects.get(pk=old.customer_id)
    assert customer.email == "" and customer.visitor_id.startswith("anonymised-")
    assert conversation_for_token(conversation_id=old.pk, token=old.resume_token) is None
    recent.refresh_from_db()
    assert recent.anonymised_at is None and recent.customer.email == "new@example.com"
    assert retention_apply() == {bot.slug: 0}  # idempotent


def test_retention_can_delete_and_leaves_open_conversations_alone(bot):
    bot.retention_days = 7
    bot.retention_action = RetentionAction.DELETE
    bot.save()
    old, waiting = chat_create(bot=bot), chat_create(bot=bot)
    handoff_request(conversation_id=waiting.pk)
    _aged(old, 8)
    _aged(waiting, 8)
    assert retention_apply_task.apply().get() == {bot.slug: 1}
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    assert Conversation.objects.filter(pk=waiting.pk).exists()


def test_bots_without_retention_keep_everything(bot):
    old = chat_create(bot=bot)
    _aged(old, 3650)
    assert retention_apply() == {}
    assert Conversation.objects.filter(pk=old.pk, anonymised_at__isnull=True).exists()


def test_erase_customer_command_deletes_everything_about_them(bot, settings, tmp_path, capsys):
    jane = chat_create(bot=bot, email="Jane@Example.com")
    chat_create(bot=bot, email="jane@example.com")  # a second visitor, same person
    other = chat_create(bot=bot, email="sam@example.com")
    path = _image(jane, settings, tmp_path).file.path
    call_command("erase_customer", "--email", "jane@example.com", "--dry-run")
    assert "Would erase 2 customer(s), 2 conversation(s), 8 message(s), 1 image(s)" in (
        capsys.readouterr().out
    )
    assert Customer.objects.filter(email__iexact="jane@example.com").count() == 2
    call_command("erase_customer", "--email", "jane@example.com")
    assert "Erased 2 customer(s)" in capsys.readouterr().out
    assert not Customer.objects.filter(email__iexact="jane@example.com").exists()
    assert not Conversation.objects.filter(customer__email__iexact="jane@example.com").exists()
    assert not (tmp_path / path).exists()
    assert Conversation.objects.filter(pk=other.pk).exists()


def test_erase_by_visitor_id(bot):
    conversation = chat_create(bot=bot)
    visitor = conversation.customer.visitor_id
    erased = customer_erase(visitor_id=visitor)
    assert (erased.customers, erased.conversations) == (1, 1)
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
