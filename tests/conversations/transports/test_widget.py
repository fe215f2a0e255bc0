"""The widget's HTTP endpoints: sessions, CORS and origins, image uploads."""

import io
import json

import pytest
from PIL import Image

from conversations.domain.conversation import conversation_for_token
from conversations.edge.identity import identity_signature
from conversations.models import Attachment, Conversation
from tests import factories

ORIGIN = "http://testserver"
VISITOR = "visitor_0123456789abcdef"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    # Pages link static files; the manifest exists only after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def start(client, bot, *, origin=ORIGIN, **body):
    return client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": VISITOR, **body}),
        content_type="text/plain",
        HTTP_ORIGIN=origin,
    )


def image_bytes(pillow_format: str, size=(12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=pillow_format)
    return buffer.getvalue()


def upload(client, bot, session, data: bytes, name="photo"):
    return client.post(
        f"/widget/{bot.public_key}/attachments",
        data={"file": io.BytesIO(data)},
        HTTP_ORIGIN=ORIGIN,
        HTTP_X_CONVERSATION=session["conversation_id"],
        HTTP_X_RESUME_TOKEN=session["token"],
    )


def test_a_visitor_starts_a_conversation(client, bot):
    response = start(client, bot)
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    session = response.json()
    assert session["status"] == "bot" and session["resumed"] is False
    assert session["websocket_path"] == f"/ws/chat/{session['conversation_id']}/"
    conversation = conversation_for_token(
        conversation_id=session["conversation_id"], token=session["token"]
    )
    assert conversation.customer.visitor_id == VISITOR and conversation.bot == bot


def test_the_resume_token_brings_back_the_same_conversation(client, bot):
    first = start(client, bot).json()
    again = start(client, bot, conversation_id=first["conversation_id"], token=first["token"])
    assert again.status_code == 200
    assert again.json()["conversation_id"] == first["conversation_id"]
    assert again.json()["resumed"] is True
    wrong = start(client, bot, conversation_id=first["conversation_id"], token="nope").json()
    assert wrong["conversation_id"] != first["conversation_id"]
    fresh = start(
        client, bot, conversation_id=first["conversation_id"], token=first["token"], new=True
    ).json()
    assert fresh["conversation_id"] != first["conversation_id"]


def test_another_bots_token_does_not_resume_here(client, bot):
    other = factories.bot_create()
    theirs = start(client, other).json()
    mine = start(client, bot, conversation_id=theirs["conversation_id"], token=theirs["token"])
    assert mine.json()["conversation_id"] != theirs["conversation_id"]


def test_a_site_not_allowed_gets_no_session(client, bot):
    response = start(client, bot, origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert Conversation.objects.count() == 0


def test_preflight_is_answered_for_allowed_origins(client, bot):
    response = client.options(
        f"/widget/{bot.public_key}/attachments",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response.status_code == 204
    assert "X-Resume-Token" in response["Access-Control-Allow-Headers"]


def test_unknown_or_inactive_bots_are_not_found(client, bot):
    bot.is_active = False
    bot.save(update_fields=["is_active"])
    assert start(client, bot).status_code == 404


@pytest.mark.parametrize("visitor_id", ["", "short", "x" * 65, "bad id with spaces!!", 12345])
def test_visitor_ids_are_checked(client, bot, visitor_id):
    assert start(client, bot, visitor_id=visitor_id).status_code == 400


def test_malformed_body_is_refused(client, bot):
    response = client.post(
        f"/widget/{bot.public_key}/session", data="{", content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code == 400


def test_a_signed_identity_verifies_the_customer(client, bot):
    signature = identity_signature(secret=bot.identity_secret, value="ann@example.com")
    session = start(
        client, bot, identity={"email": "ann@example.com", "name": "Ann", "signature": signature}
    ).json()
    customer = Conversation.objects.get(pk=session["conversation_id"]).customer
    assert customer.is_verified and customer.email == "ann@example.com"


def test_a_forged_identity_is_not_verified(client, bot):
    session = start(
        client, bot, identity={"email": "ceo@example.com", "signature": "0" * 64}
    ).json()
    customer = Conversation.objects.get(pk=session["conversation_id"]).customer
    assert not customer.is_verified


@pytest.mark.parametrize(
    ("pillow_format", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_images_are_stored(client, bot, pillow_format, content_type):
    session = start(client, bot).json()
    response = upload(client, bot, session, image_bytes(pillow_format))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["content_type"], body["width"], body["height"]) == (content_type, 12, 8)
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.conversation_id.hex == session["conversation_id"].replace("-", "")
    assert attachment.message is None and len(attachment.sha256) == 64


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10,
        b"GIF89a" + b"\x00" * 40,
        b"%PDF-1.7 pretending",
    ],
)
def test_what_is_not_an_image_is_refused(client, bot, data):
    session = start(client, bot).json()
    response = upload(client, bot, session, data)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_image"
    assert Attachment.objects.count() == 0


def test_a_png_named_jpeg_is_sniffed_by_content(client, bot):
    session = start(client, bot).json()
    response = upload(client, bot, session, image_bytes("PNG"), name="photo.jpg")
    assert response.json()["content_type"] == "image/png"


def test_images_over_the_size_limit_are_refused(client, bot, settings):
    settings.SUPPORTBOT_MAX_IMAGE_BYTES = 2048
    session = start(client, bot).json()
    big = Image.effect_noise((200, 200), 100).convert("RGB")
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    response = upload(client, bot, session, buffer.getvalue())
    assert response.status_code == 413
    assert Attachment.objects.count() == 0


def test_uploads_need_the_resume_token(client, bot):
    session = start(client, bot).json()
    response = upload(client, bot, {**session, "token": "wrong"}, image_bytes("PNG"))
    assert response.status_code == 401
    response = upload(client, bot, {**session, "conversation_id": "junk"}, image_bytes("PNG"))
    assert response.status_code == 401


def test_an_image_is_served_only_to_its_conversation(client, bot):
    mine = start(client, bot).json()
    theirs = start(client, bot, visitor_id="visitor_fedcba9876543210").json()
    data = image_bytes("PNG")
    attachment_id = upload(client, bot, mine, data).json()["id"]
    url = f"/widget/{bot.public_key}/attachments/{attachment_id}"
    response = client.get(
        url, HTTP_X_CONVERSATION=mine["conversation_id"], HTTP_X_RESUME_TOKEN=mine["token"]
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == data
    response = client.get(
        url, HTTP_X_CONVERSATION=theirs["conversation_id"], HTTP_X_RESUME_TOKEN=theirs["token"]
    )
    assert response.status_code == 404


def test_the_demo_pages_embed_the_widget(client, bot):
    for url in ("/", "/widget/demo"):
        page = client.get(url).content.decode()
        assert "supportbot/widget.js" in page and f'data-bot="{bot.public_key}"' in page


def test_too_many_requests_from_one_address_get_429_the_page_can_read(client, bot, settings):
    from django.core.cache import cache

    cache.clear()
    settings.SUPPORTBOT_RATE_PER_IP_PER_MINUTE = 2
    assert start(client, bot).status_code in (200, 201)
    assert start(client, bot).status_code in (200, 201)
    refused = start(client, bot)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused["Access-Control-Allow-Origin"] == ORIGIN
    cache.clear()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(json.dumps({"visitor_id": VISITOR, "identity": {"name": "A\x00"}}), id="nul"),
        pytest.param(
            json.dumps({"visitor_id": VISITOR, "identity": {"email": "a\ud800@x.io"}}),
            id="surrogate",
        ),
        pytest.param(
            json.dumps({"visitor_id": VISITOR, "identity": {"external_id": "x\udc00"}}),
            id="surrogate-in-id",
        ),
        pytest.param(f'{{"visitor_id": "{VISITOR}", "x": {"[" * 5000 + "]" * 5000}}}', id="deep"),
        pytest.param(json.dumps({"visitor_id": VISITOR, "pad": "x" * 2_000_000}), id="2mb"),
    ],
)
def test_a_session_body_that_cannot_be_stored_is_malformed(client, bot, raw):
    response = client.post(
        f"/widget/{bot.public_key}/session", data=raw, content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"] in ("malformed", "too_large")
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert Conversation.objects.count() == 0
