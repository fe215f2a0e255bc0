"""ASGI entry point: HTTP goes to Django, websockets to the chat consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from conversations.engine import engine_warm_up  # noqa: E402
from conversations.knowledge.search import knowledge_warm_up  # noqa: E402
from conversations.transports.routing import websocket_urlpatterns  # noqa: E402

# The tokenizer loads in about half a second: at start-up, not in the first customer's reply.
engine_warm_up()
# The embedder and each bot's FAQ index, in a thread: start-up does not wait for the database.
knowledge_warm_up()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
