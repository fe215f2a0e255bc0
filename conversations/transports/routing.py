"""Websocket routes."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path, re_path

from conversations.transports.agent_socket import AgentConversationConsumer, AgentQueueConsumer
from conversations.transports.customer_socket import ChatConsumer, NotFoundConsumer


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
