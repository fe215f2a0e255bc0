"""Images customers attach: sniffed, verified by Pillow, size-capped, then stored.

One validation for every transport (widget upload, API multipart); the declared content
type and file name are ignored, only the bytes count.
"""

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, UnidentifiedImageError

from conversations.domain.errors import DomainError
from conversations.models import Attachment

# Magic numbers of the formats we accept, and the content type each is stored as.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"),
    (b"\xff\xd8\xff", "JPEG", "image/jpeg"),
    (b"GIF87a", "GIF", "image/gif"),
    (b"GIF89a", "GIF", "image/gif"),
)
MAX_PIXELS = 40_000_000


@dataclass(frozen=True, slots=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def _sniff(data: bytes) -> tuple[str, str] | None:
    for magic, pil_format, content_type in _SIGNATURES:
        if data.startswith(magic):
            return pil_format, content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", "image/webp"
    return None


def image_validate(*, data: bytes) -> ImageInfo:
    """Check that `data` is a PNG, JPEG, GIF or WebP image within the size limits."""
    if not data:
        raise DomainError("empty_file", "The file is empty.")
    if len(data) > settings.SUPPORTBOT_MAX_IMAGE_BYTES:
        limit_mb = settings.SUPPORTBOT_MAX_IMAGE_BYTES / (1024 * 1024)
        raise DomainError("image_too_large", f"Images may be at most {limit_mb:g} MB.")
    sniffed = _sniff(data)
    if sniffed is None:
        raise DomainError("unsupported_type", "Only PNG, JPEG, GIF and WebP images.")
    pil_format, content_type = sniffed
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit; a bomb is refused either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            if image.format != pil_format:
                raise DomainError("unsupported_type", "The image's format is inconsistent.")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DomainError("image_too_large", "The image has too many pixels.")
            image.verify()
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DomainError("image_too_large", "The image has too many pixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DomainError("invalid_image", "The file is not a readable image.") from None
    return ImageInfo(content_type=content_type, width=width, height=height)


def attachment_create(*, conversation_id: Any, data: bytes) -> Attachment:
    """Validate and store an image for a conversation; it is bound to a message when sent."""
    info = image_validate(data=data)
    attachment = Attachment(
        conversation_id=conversation_id,
        content_type=info.content_type,
        size=len(data),
        width=info.width,
        height=info.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    attachment.file.save("upload", ContentFile(data), save=False)
    attachment.save()
    return attachment
