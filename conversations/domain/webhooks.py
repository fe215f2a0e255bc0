"""Webhooks: signed POSTs to the host's endpoints for conversation events, sent by Celery.

`webhook_emit` is called by the domain functions inside their transaction; once it commits,
one WebhookDelivery row is written per subscribed endpoint and a task is queued for each.
The task signs the body, POSTs it, records the attempt, and retries with exponential backoff.

The signature header is `Supportbot-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 over
"<ts>.<raw body>" keyed with the endpoint's secret>`; `webhook_signature_verify` checks one.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from celery import shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from conversations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Supportbot-Signature"
WebhookData = dict[str, Any] | Callable[[], dict[str, Any]]
RESPONSE_EXCERPT_CHARS = 500


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={webhook_signature(secret=secret, timestamp=ts, body=body)}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: parse the header, recompute, compare, reject stale timestamps."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=ts, body=body)
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


class WebhookTargetRefused(ValueError):
    """A webhook URL that points inside (loopback, private, link-local...): SSRF."""


LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def _address_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


def webhook_target_check(url: str, *, resolve_required: bool) -> list[str]:
    """The URL's addresses, each checked to be public; raises WebhookTargetRefused.

    Every address the host resolves to must be public, unless SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE
    is set (a private network's own receivers, the tests). A name that does not resolve is
    accepted at save (`resolve_required=False`; it is checked again at each delivery).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetRefused("Webhook URLs must be http:// or https:// with a host.")
    host = parts.hostname.rstrip(".").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookTargetRefused("The webhook URL's port is not valid.") from None
    if settings.SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE:
        return _resolve(host, port)
    if host == LOCAL_NAMES[0] or host.endswith(LOCAL_NAMES[1:]):
        raise WebhookTargetRefused(f"{host} is a local name: webhooks must go to a public host.")
    addresses = _resolve(host, port)
    if not addresses and resolve_required:
        raise WebhookTargetRefused(f"{host} does not resolve.")
    inside = [a for a in addresses if not _address_public(a)]
    if inside:
        raise WebhookTargetRefused(
            f"{host} resolves to {inside[0]}, which is not a public address: webhooks to "
            "loopback, private or link-local addresses are not allowed "
            "(SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE=1 allows them)."
        )
    return addresses


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL aimed at the address just checked, so a second lookup cannot swap it (DNS
    rebinding); the Host header and TLS name stay the original host's."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host = parts.hostname or ""
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions


def _deliveries_create(
    *, bot_id: Any, conversation_id: Any, event: str, data: "WebhookData"
) -> list[str]:
    endpoints = WebhookEndpoint.objects.filter(active=True)
    if bot_id is not None:
        endpoints = endpoints.filter(bot_id=bot_id)
    else:
        endpoints = endpoints.filter(bot__conversations=conversation_id)
    endpoints = [e for e in endpoints if e.wants(event)]
    if not endpoints:
        return []
    if callable(data):
        data = data()
    ids: list[str] = []
    for endpoint in endpoints:
        delivery_id = uuid.uuid4()
        payload = {
            "id": str(delivery_id),
            "event": event,
            "created_at": timezone.now().isoformat(),
            "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
        }
        WebhookDelivery.objects.create(
            id=delivery_id, endpoint=endpoint, event=event, payload=payload
        )
        ids.append(str(delivery_id))
    return ids


def webhook_emit(
    *, event: str, data: "WebhookData", bot_id: Any = None, conversation_id: Any = None
) -> None:
    """Queue `event` for the bot's endpoints once the surrounding transaction commits.

    Name the bot, or the conversation whose bot it is. `data` may be a function, called
    after commit and only when some endpoint wants the event (saves queries otherwise).
    """
    if event not in WebhookEvent.values:
        raise ValueError(f"Unknown webhook event {event!r}.")
    if bot_id is None and conversation_id is None:
        raise ValueError("webhook_emit needs bot_id or conversation_id.")

    def send() -> None:
        try:
            ids = _deliveries_create(
                bot_id=bot_id, conversation_id=conversation_id, event=event, data=data
            )
            for delivery_id in ids:
                webhook_deliver.delay(delivery_id)
        except Exception:  # a webhook must never break the conversation that caused it
            logger.exception("Could not queue webhook %s for bot %s", event, bot_id)

    transaction.on_commit(send)


def webhook_backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1)."""
    return settings.SUPPORTBOT_WEBHOOK_BACKOFF_SECONDS * (2 ** (attempt - 1))


def webhook_attempt(*, delivery_id: Any) -> WebhookDelivery | None:
    """POST the delivery once and record the outcome (no retry scheduling here)."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.delivered_at is not None:
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    endpoint = delivery.endpoint
    delivery.attempt += 1
    delivery.status_code = None
    delivery.response_excerpt = ""
    delivery.error = ""
    try:
        addresses = webhook_target_check(endpoint.url, resolve_required=True)
        url, host, extensions = _pinned(endpoint.url, addresses[0])
        with httpx.Client(
            timeout=settings.SUPPORTBOT_WEBHOOK_TIMEOUT, follow_redirects=False
        ) as client:
            response = client.post(
                url,
                content=body,
                extensions=extensions,
                headers={
                    **host,
                    "Content-Type": "application/json",
                    "User-Agent": "Supportbot-Webhooks/1",
                    "Supportbot-Event": delivery.event,
                    "Supportbot-Delivery": str(delivery.pk),
                    SIGNATURE_HEADER: webhook_signature_header(secret=endpoint.secret, body=body),
                },
            )
        delivery.status_code = response.status_code
        delivery.response_excerpt = response.text[:RESPONSE_EXCERPT_CHARS]
        if 200 <= response.status_code < 300:
            delivery.delivered_at = timezone.now()
            delivery.next_retry_at = None
        else:
            delivery.error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT_CHARS]
    except WebhookTargetRefused as exc:
        delivery.error = str(exc)[:RESPONSE_EXCERPT_CHARS]
    delivery.save(
        update_fields=[
            "attempt",
            "status_code",
            "response_excerpt",
            "error",
            "delivered_at",
            "next_retry_at",
            "updated_at",
        ]
    )
    return delivery


@shared_task(bind=True, name="conversations.domain.webhooks.webhook_deliver")
def webhook_deliver(self, delivery_id: str) -> None:
    """Send one delivery; on failure retry later, doubling the wait, until the attempts run out."""
    delivery = webhook_attempt(delivery_id=delivery_id)
    if delivery is None or delivery.delivered_at is not None:
        return  # delivered, or deleted (its endpoint or bot is gone)
    max_attempts = settings.SUPPORTBOT_WEBHOOK_MAX_ATTEMPTS
    # In-process (eager) mode has no scheduler to come back later: one attempt, logged.
    if delivery.attempt >= max_attempts or self.request.is_eager:
        delivery.failed_at = timezone.now()
        delivery.next_retry_at = None
        delivery.save(update_fields=["failed_at", "next_retry_at", "updated_at"])
        return
    countdown = webhook_backoff(delivery.attempt)
    delivery.next_retry_at = timezone.now() + timedelta(seconds=countdown)
    delivery.save(update_fields=["next_retry_at", "updated_at"])
    raise self.retry(countdown=countdown, max_retries=max_attempts)
