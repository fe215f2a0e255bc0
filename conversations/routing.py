"""Websocket routes."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from conversations.agent_consumers import AgentConversationConsumer, AgentQueueConsumer


def _staff_only(consumer):
    """Agent routes: the Django session identifies the agent; other sites may not connect."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(consumer.as_asgi()))


agent_websocket_urlpatterns = [
    path("ws/agent/queue/", _staff_only(AgentQueueConsumer)),
    path(
        "ws/agent/conversations/<uuid:conversation_id>/",
        _staff_only(AgentConversationConsumer),
    ),
]

websocket_urlpatterns: list = [*agent_websocket_urlpatterns]
