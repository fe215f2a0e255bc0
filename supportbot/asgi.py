"""ASGI entry point: HTTP goes to Django, websockets to the chat consumers."""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from conversations.domain.recovery import sweeper_start, sweeper_stop  # noqa: E402
from conversations.engine import engine_loop_warm_up, engine_warm_up  # noqa: E402
from conversations.knowledge.search import knowledge_warm_up  # noqa: E402
from conversations.transports.routing import LayerGuard, websocket_urlpatterns  # noqa: E402
from supportbot.periodic_tasks import periodic_tasks_start  # noqa: E402

# The event loop waits less for the GIL behind the database thread (see settings).
sys.setswitchinterval(settings.GIL_SWITCH_SECONDS)
# The tokenizer (about half a second) and the model client: at start-up, not in the first
# replies (under uvicorn this runs on the serving event loop, whose client it makes).
engine_warm_up()
# The embedder and each bot's FAQ index, in a thread: start-up does not wait for the database.
knowledge_warm_up()
# No celery beat on the embedded default: its schedule runs in this process.
periodic_tasks = periodic_tasks_start()


class WithSweep:
    """Starts this process's sweep of lost replies (domain/recovery.py) at start-up.

    At the lifespan start-up where the server sends one (uvicorn); otherwise at the first
    request of any kind (Daphne, `--lifespan off`).
    """

    def __init__(self, app):
        self.app = app
        self.warm = False

    async def __call__(self, scope, receive, send):
        sweeper_start()
        if not self.warm:  # a server that imported the app outside its event loop
            self.warm = True
            engine_loop_warm_up()
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await sweeper_stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = WithSweep(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": LayerGuard(URLRouter(websocket_urlpatterns)),
        }
    )
)
