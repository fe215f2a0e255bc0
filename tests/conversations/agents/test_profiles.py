"""Agents' display names and avatars: what customers see instead of the login name."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conversations.agents.access import agent_avatar_url, agent_name
from conversations.agents.messaging import agent_reply
from conversations.domain.messages import message_serialize, messages_after
from conversations.domain.status import conversation_claim, handoff_request
from conversations.models import AgentProfile

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_the_display_name_and_avatar_replace_the_username(
    conversation, agent_user, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    assert agent_name(agent_user) == "Alice" and agent_avatar_url(agent_user) == ""
    AgentProfile.objects.create(
        user=agent_user,
        display_name="Alice from Support",
        avatar=SimpleUploadedFile("a.png", PNG, content_type="image/png"),
    )
    agent_user.refresh_from_db()
    handoff_request(conversation_id=conversation.pk)
    conversation_claim(conversation_id=conversation.pk, agent=agent_user)
    agent_reply(conversation_id=conversation.pk, agent=agent_user, text="Hi!")

    [*_, message] = messages_after(conversation_id=conversation.pk)
    shown = message_serialize(message)
    assert shown["agent_name"] == "Alice from Support"
    assert shown["agent_avatar"].startswith(reverse("agents:avatar", args=[agent_user.pk]))
    joined = [
        m for m in messages_after(conversation_id=conversation.pk) if m.event == "agent_joined"
    ]
    assert joined[0].data["agent"] == "Alice from Support"

    # Anyone may load the picture: customers see it in the widget.
    response = Client().get(shown["agent_avatar"])
    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG
    assert Client().get(reverse("agents:avatar", args=[999999])).status_code == 404
