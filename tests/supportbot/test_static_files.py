"""Static files and /favicon.ico, served under ASGI without Django's sync-iterator warning."""

import warnings

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

FAVICON = settings.BASE_DIR / "static" / "root" / "favicon.ico"
WIDGET = settings.BASE_DIR / "static" / "supportbot" / "widget.js"


async def asgi_get(path: str, *, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through the ASGI handler as uvicorn calls it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(ASGIHandler(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(5)
    body = b""
    while True:
        message = await communicator.receive_output(5)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body


@pytest.fixture
def finders(settings):
    """DEBUG's way: files found in the source tree on each request, no collectstatic."""
    settings.WHITENOISE_AUTOREFRESH = True
    settings.WHITENOISE_USE_FINDERS = True


@pytest.mark.parametrize(
    ("path", "file"), [("/favicon.ico", FAVICON), ("/static/supportbot/widget.js", WIDGET)]
)
async def test_static_files_stream_without_the_sync_iterator_warning(finders, path, file):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, headers, body = await asgi_get(path)
        head_status, _, head_body = await asgi_get(path, method="HEAD")
    assert status == 200 and body == file.read_bytes()
    assert int(headers[b"content-length"]) == len(body)
    assert head_status == 200 and head_body == b""
    assert not [w for w in caught if "synchronous iterators" in str(w.message)], caught


async def test_the_favicon_is_served_without_finders_too():
    status, headers, body = await asgi_get("/favicon.ico")
    assert status == 200 and headers[b"content-type"].startswith(b"image/")
    assert body == FAVICON.read_bytes()


def test_the_favicon_is_found_by_the_test_client(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
