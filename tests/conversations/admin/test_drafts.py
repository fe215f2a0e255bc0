"""The copilot's drafts in the admin: listed and shown with their lookups, never edited."""

from django.urls import reverse

from conversations.models import ReplyDraft, ToolRun
from tests import factories


def a_draft(bot, agent):
    conversation = factories.conversation_create(bot=bot)
    draft = ReplyDraft.objects.create(
        conversation=conversation,
        agent=agent,
        tools=["search_faq"],
        text="Refunds take **5 days**.",
        state="complete",
        prompt_tokens=120,
        completion_tokens=9,
    )
    ToolRun.objects.create(
        conversation=conversation,
        draft=draft,
        call_id="call_1",
        tool="search_faq",
        arguments={"question": "refund time"},
        result={"data": {"matches": []}, "sources": []},
        status="succeeded",
        duration_ms=4,
    )
    return draft


def test_drafts_are_listed_and_shown_with_their_lookups_read_only(admin_client, admin_user, bot):
    draft = a_draft(bot, admin_user)
    listing = admin_client.get(reverse("admin:conversations_replydraft_changelist"))
    assert listing.status_code == 200
    assert str(draft.conversation) in listing.content.decode()

    page = admin_client.get(reverse("admin:conversations_replydraft_change", args=[draft.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Refunds take **5 days**." in body and "refund time" in body
    assert 'name="_save"' not in body  # nothing to change

    assert admin_client.get(reverse("admin:conversations_replydraft_add")).status_code == 403
    edited = admin_client.post(
        reverse("admin:conversations_replydraft_change", args=[draft.pk]), {"text": "changed"}
    )
    assert edited.status_code == 403
    assert ReplyDraft.objects.get(pk=draft.pk).text == "Refunds take **5 days**."
