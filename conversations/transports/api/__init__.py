"""The embedding API: REST with SSE under /api/v1/, OpenAPI at /api/schema/, docs at /api/docs/.

Django Ninja: async views, pydantic schemas, the OpenAPI document generated from this code,
and Swagger UI served from the package's own static files (no CDN).
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.openapi.docs import render_template
from ninja.parser import Parser

from conversations.edge.responses import error_response
from conversations.transports.api import articles, conversations, knowledge, management
from conversations.transports.api.auth import ApiKeyAuth
from conversations.transports.api.errors import error_handlers_install

API_DESCRIPTION = """Embed a Supportbot bot in your app, help center or backend.

1. Signed in to [/admin/](/admin/) as staff, create an API key right here with
   `POST /api/v1/bots/{slug}/keys` (or in the admin, or `manage.py create_api_key --bot SLUG
   --scopes chat,read`); the secret is shown once. Click **Authorize** and paste it: it goes
   out as `Authorization: Bearer sbk_...`. `POST /api/v1/bots/{slug}/webhooks` registers a
   webhook receiver.
2. `POST /api/v1/conversations` starts a conversation, optionally for a signed customer.
3. `POST /api/v1/conversations/{id}/messages` with `Accept: text/event-stream` streams the
   reply as Server-Sent Events; without it the complete reply comes back as JSON.
4. `GET /api/v1/conversations/{id}/messages` reads the transcript.

Errors are `{"error": {"code": "...", "message": "..."}}`, 404 for any unknown path or
malformed id included. Rate limits answer 429 with Retry-After; a body over the cap (64 KB, 8 MB
for imports, the image limit for attachments) answers 413; a moment without Redis answers 503
with Retry-After. Bodies are JSON objects with the types shown (booleans are `true`/`false`,
dates ISO 8601); text may not contain NUL characters or lone surrogates (422). Webhooks and
signed identities: see docs/api.md.
"""


def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any path under /api/ that no endpoint takes (a malformed id included): JSON 404."""
    return error_response(status=404, code="not_found", message="No such endpoint or object.")


class JsonObjectParser(Parser):
    """Every JSON body is an object: ninja would read a list or a bare string as an empty one."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data


class SwaggerWithCsrf(Swagger):
    """Swagger UI that sends the CSRF token, for the setup calls made with the admin's login."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": True,
        }
        return render_template(request, self.template, self.template_cdn, context)


api = NinjaAPI(
    title="Supportbot API",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    openapi_url="/schema/",
    docs_url="/docs/",
    docs=SwaggerWithCsrf(settings={"persistAuthorization": True}),
    auth=ApiKeyAuth(),
    parser=JsonObjectParser(),
)
error_handlers_install(api)
api.add_router("/v1/", management.router)
api.add_router("/v1/", conversations.router)
api.add_router("/v1/", knowledge.router)
api.add_router("/v1/", articles.router)
