"""The OpenAPI schema and the docs page are served from code, and schemathesis finds no 5xx."""

import contextlib
import importlib
import json
import pkgutil

import pytest
from django.test import override_settings

from conversations.edge.apikeys import api_key_create
from tests import factories
from tests.conftest import HAS_POSTGRES, requires_postgres

schemathesis = pytest.importorskip("schemathesis")


def _schemathesis_preload() -> None:
    """Import all of schemathesis while collecting, not lazily inside the test.

    pytest rewrites a plugin's modules as they are imported; done while hypothesis has raised
    the recursion limit, CPython 3.11's parser fails ("AST constructor recursion depth
    mismatch").
    """
    for info in pkgutil.walk_packages(schemathesis.__path__, "schemathesis.", onerror=print):
        with contextlib.suppress(Exception):
            importlib.import_module(info.name)


if HAS_POSTGRES:
    _schemathesis_preload()


def test_the_schema_is_openapi_3_with_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200

    def no_duplicate_keys(pairs):  # Swagger UI refuses a schema with duplicated keys
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    schema = json.loads(response.content, object_pairs_hook=no_duplicate_keys)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/attachments",
        "/api/v1/conversations/{conversation_id}/close",
        "/api/v1/conversations/{conversation_id}/rating",
        "/api/v1/conversations/{conversation_id}/handoff",
        "/api/v1/faq",
        "/api/v1/faq/{entry_id}",
        "/api/v1/faq/import",
        "/api/v1/orders/import",
    ):
        assert path in paths
    post = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert "text/event-stream" in post["responses"]["200"]["content"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


@override_settings(
    STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
)
def test_the_docs_page_uses_bundled_assets_not_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


@pytest.mark.parametrize("typed", ["/api", "/api/", "/api/docs"])
def test_the_api_s_own_address_leads_to_its_docs(client, typed):
    response = client.get(typed)
    assert response.status_code == 302 and response["Location"] == "/api/docs/"
    # Anything else under /api/ stays the API's JSON 404.
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@requires_postgres
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_errors(live_server_url, bot):
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error

    _, secret = api_key_create(bot=bot, name="fuzz", scopes="chat,read,knowledge")
    conversation = factories.conversation_create(bot=bot)
    schema = schemathesis.openapi.from_url(f"{live_server_url}/api/schema/")
    headers = {"Authorization": f"Bearer {secret}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case):
            if "conversation_id" in (case.path_parameters or {}):
                case.path_parameters["conversation_id"] = str(conversation.pk)
            response = case.call(headers=headers, timeout=30)
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:
                failures.append(f"{case.method} {case.formatted_path}: {exc}")
                raise

        with contextlib.suppress(Exception):
            check()
    assert not failures, "\n".join(failures[:5])
