"""Websocket routes."""

import logging

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path, re_path

from conversations.domain.realtime import CLOSE_LAYER_LOST
from conversations.edge.outage import is_outage
from conversations.transports.agent_socket import AgentConversationConsumer, AgentQueueConsumer
from conversations.transports.customer_socket import ChatConsumer, NotFoundConsumer

logger = logging.getLogger(__name__)


class LayerGuard:
    """A socket opened while the channel layer is away closes with 4503 (reconnect later).

    Channels subscribes each consumer's channel before the handshake: with Redis away that
    raises, and the server would answer the handshake with an HTTP 500 the client cannot read.
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        accepted = False

        async def tracking_send(message):
            nonlocal accepted
            if message["type"] in ("websocket.accept", "websocket.close"):
                accepted = True
            await send(message)

        try:
            await self.application(scope, receive, tracking_send)
        except Exception as error:
            if accepted or not is_outage(error):
                raise
            logger.warning("A socket opened while the channel layer is away: %s", error)
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_LAYER_LOST})


class SameSiteOrigin(OriginValidator):
    """AllowedHostsOriginValidator that reads ALLOWED_HOSTS per connection, not at import."""

    def __init__(self, application):
        super().__init__(application, [])

    def validate_origin(self, parsed_origin):
        hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        return any(
            pattern == "*" or self.match_allowed_origin(parsed_origin, pattern) for pattern in hosts
        )


def _staff_only(consumer):
    """Agent routes: the Django session identifies the agent; other sites may not connect."""
    return SameSiteOrigin(AuthMiddlewareStack(consumer.as_asgi()))


agent_websocket_urlpatterns = [
    path("ws/agent/queue/", _staff_only(AgentQueueConsumer)),
    path(
        "ws/agent/conversations/<uuid:conversation_id>/",
        _staff_only(AgentConversationConsumer),
    ),
]

# The customer's socket checks origins itself: they differ per bot (its allowed_origins).
websocket_urlpatterns: list = [
    path("ws/chat/<uuid:conversation_id>/", ChatConsumer.as_asgi()),
    *agent_websocket_urlpatterns,
    # Last: a path none of the above takes (/ws/chat/not-a-uuid/) closes with 4404.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
