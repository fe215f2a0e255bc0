"""Static files under ASGI without the "must consume synchronous iterators" warning.

WhiteNoise (6.12, the latest) answers with a FileResponse over a plain file: under ASGI Django
then iterates it synchronously in a thread and warns for every file. This middleware is
WhiteNoise's, answering in async mode with an async iterator that reads the file off the loop;
the views' own file responses (attachments) pass through it and stream the same way.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


async def _file_chunks(response: Any, file: Any) -> AsyncIterator[bytes]:
    """The file in blocks (the ASGI handler sets response.block_size), read in a thread."""
    if file is None:
        return
    while chunk := await asyncio.to_thread(file.read, response.block_size):
        yield chunk


def _streamed_async(response: HttpResponseBase) -> HttpResponseBase:
    """A file response (static, or a view's such as an attachment) read through an async iterator.

    The file stays registered with the response, which closes it when it is done.
    """
    if isinstance(response, FileResponse) and not response.is_async:
        response.streaming_content = _file_chunks(response, response.file_to_stream)
    return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's lookup and headers; in async mode the file streams through an async iterator."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_response(self, request: HttpRequest) -> HttpResponseBase | None:
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        return None if static_file is None else self.serve(static_file, request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        # The lookup may touch the disk (autorefresh in DEBUG): off the loop too.
        response = await sync_to_async(self._static_response, thread_sensitive=False)(request)
        if response is None:
            response = await self.get_response(request)
        # Only an ASGI server iterates asynchronously; the test client reads files as they are.
        return _streamed_async(response) if isinstance(request, ASGIRequest) else response
