import io

import pytest
from PIL import Image

from conversations.domain.attachments import attachment_create, image_validate
from conversations.domain.errors import DomainError


def image(fmt: str, size=(10, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "fmt, content_type",
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_accepted_formats(fmt, content_type):
    info = image_validate(data=image(fmt))
    assert (info.content_type, info.width, info.height) == (content_type, 10, 6)


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty_file"),
        (b"%PDF-1.4 not an image", "unsupported_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "invalid_image"),
    ],
)
def test_refused_files(data, code):
    with pytest.raises(DomainError) as caught:
        image_validate(data=data)
    assert caught.value.code == code


def test_truncated_image_is_refused():
    with pytest.raises(DomainError):
        image_validate(data=image("PNG", (64, 64))[:60])


def test_size_limit(settings):
    settings.SUPPORTBOT_MAX_IMAGE_BYTES = 1024
    with pytest.raises(DomainError) as caught:
        image_validate(data=image("PNG", (400, 400)) + b"\x00" * 2048)
    assert caught.value.code == "image_too_large"


def test_attachment_is_stored_with_its_hash(conversation, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    attachment = attachment_create(conversation_id=conversation.pk, data=image("PNG"))
    assert attachment.size == len(image("PNG")) and len(attachment.sha256) == 64
    assert attachment.file.read() == image("PNG")
