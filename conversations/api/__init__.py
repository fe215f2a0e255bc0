"""The embedding API: REST with SSE under /api/v1/, OpenAPI at /api/schema/, docs at /api/docs/.

Django Ninja: async views, pydantic schemas, the OpenAPI document generated from this code,
and Swagger UI served from the package's own static files (no CDN).
"""

from ninja import NinjaAPI

from conversations.api import conversations, knowledge
from conversations.api.auth import ApiKeyAuth
from conversations.api.errors import error_handlers_install

API_DESCRIPTION = """Embed a Supportbot bot in your app, help center or backend.

1. An admin creates an API key for the bot (admin, or `manage.py create_api_key --bot SLUG
   --scopes chat,read`); the secret is shown once. Send it as `Authorization: Bearer sbk_...`.
2. `POST /api/v1/conversations` starts a conversation, optionally for a signed customer.
3. `POST /api/v1/conversations/{id}/messages` with `Accept: text/event-stream` streams the
   reply as Server-Sent Events; without it the complete reply comes back as JSON.
4. `GET /api/v1/conversations/{id}/messages` reads the transcript.

Errors are `{"error": {"code": "...", "message": "..."}}`. Rate limits answer 429 with
Retry-After. Webhooks and signed identities: see docs/api.md.
"""

api = NinjaAPI(
    title="Supportbot API",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    openapi_url="/schema/",
    docs_url="/docs/",
    auth=ApiKeyAuth(),
)
error_handlers_install(api)
api.add_router("/v1/", conversations.router)
api.add_router("/v1/", knowledge.router)
