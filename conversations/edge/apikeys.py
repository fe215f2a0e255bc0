"""API keys: created with a secret shown once, looked up by prefix, checked by hash, revoked."""

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import ApiKey, ApiScope, Bot, Conversation

KEY_START = "sbk_"
PREFIX_CHARS = 8


class ApiKeyError(ValueError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_scopes_parse(scopes: Iterable[str] | str) -> list[str]:
    """Scope names, checked and de-duplicated; "read" stands for reading transcripts."""
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",")]
    result: list[str] = []
    for scope in scopes:
        if not scope:
            continue
        if scope not in ApiScope.values:
            raise ApiKeyError(f"Unknown scope {scope!r}; choose from {', '.join(ApiScope.values)}.")
        if scope not in result:
            result.append(scope)
    if not result:
        raise ApiKeyError("An API key needs at least one scope.")
    return result


def api_key_create(*, bot: Bot, name: str, scopes: Iterable[str] | str) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned once and never stored."""
    scope_list = api_scopes_parse(scopes)
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    secret = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        bot=bot, name=name or "API key", prefix=prefix, secret_hash=_hash(secret), scopes=scope_list
    )
    return key, secret


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The key this secret belongs to (revoked keys included: the caller says why it fails)."""
    if not secret.startswith(KEY_START):
        return None
    prefix = secret[len(KEY_START) :].split("_", 1)[0]
    if len(prefix) != PREFIX_CHARS:
        return None
    key = ApiKey.objects.select_related("bot").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use, at most once a minute per key so busy keys do not write on every call."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_conversations(*, key: ApiKey, write: bool = False) -> QuerySet[Conversation]:
    """The conversations a key reaches: those it started; to read, all of its bot's with `read`.

    Nobody else's conversation is written into through the API, whatever the key's scopes.
    """
    conversations = Conversation.objects.filter(bot_id=key.bot_id)
    if write or ApiScope.READ not in key.scopes:
        conversations = conversations.filter(api_key_id=key.pk)
    return conversations
