"""Websocket routes."""

from django.urls import path

from conversations.consumers import ChatConsumer

websocket_urlpatterns: list = [
    path("ws/chat/<uuid:conversation_id>/", ChatConsumer.as_asgi()),
]
