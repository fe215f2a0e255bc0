"""What can go wrong with a model call, what is retried, and what the customer is told.

Faults before the first token (429, 5xx, connection errors, timeouts) are retried with
exponential backoff and jitter, honouring Retry-After; nothing has been shown yet, so a retry
is invisible. After the first token nothing is retried (that would duplicate text): the
stream's fault becomes `StreamInterrupted` and the reply keeps its partial text.
"""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable

import httpx
import openai

from conversations.domain.errors import DomainError
from conversations.engine.backends import BackendEvent, Usage

logger = logging.getLogger(__name__)

HUMAN_OFFER = "If you'd like, I can connect you with a human agent."
MESSAGES = {
    "model_unavailable": (
        "Sorry, I'm having trouble answering right now. Please try again in a moment. "
        + HUMAN_OFFER
    ),
    "interrupted": "Sorry, my answer was cut off. Please ask again. " + HUMAN_OFFER,
    "content_filter": "Sorry, I can't continue with that answer. " + HUMAN_OFFER,
    "context_too_long": (
        "Sorry, this conversation has grown too long for me to answer. " + HUMAN_OFFER
    ),
    "moderated": (
        "Sorry, I can't help with that message. Please rephrase it, or ask for a human agent."
    ),
    "prompt_leak": "Sorry, I can't share that. " + HUMAN_OFFER,
    "budget_exhausted": (
        "I can't answer more questions today, so I've asked a person to take over. "
        "Someone will reply here as soon as they can."
    ),
    "internal": "Sorry, something went wrong on our side. Please try again. " + HUMAN_OFFER,
}
MAX_RETRY_AFTER = 20.0  # seconds; a longer wait is not interactive, so give up instead


def customer_message(code: str) -> str:
    return MESSAGES.get(code, MESSAGES["internal"])


class ModelFault(DomainError):
    """A model call failed; `code` picks the customer's message, `detail` is for the log."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, customer_message(code))
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.detail or self.code


class ContextTooLong(ModelFault):
    def __init__(self, detail: str = "") -> None:
        super().__init__("context_too_long", detail)


class StreamInterrupted(ModelFault):
    """The stream failed after text was shown: keep it, say so, do not retry."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("interrupted", detail)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers if exc.response is not None else {}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            continue
    return None


def fault_classify(exc: BaseException) -> ModelFault:
    """Map an SDK or transport exception to a ModelFault."""
    if isinstance(exc, ModelFault):
        return exc
    if isinstance(exc, openai.BadRequestError):
        code = getattr(exc, "code", None) or ""
        if code == "context_length_exceeded" or "maximum context length" in str(exc).lower():
            return ContextTooLong(str(exc))
        return ModelFault("model_unavailable", f"bad request: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return ModelFault(
            "model_unavailable", str(exc), retryable=True, retry_after=_retry_after(exc)
        )
    if isinstance(exc, openai.APIStatusError):
        retryable = exc.status_code >= 500 or exc.status_code in (408, 409)
        return ModelFault(
            "model_unavailable",
            f"HTTP {exc.status_code}: {exc}",
            retryable=retryable,
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, openai.APITimeoutError | TimeoutError | httpx.TimeoutException):
        return ModelFault("model_unavailable", f"timeout: {exc!r}", retryable=True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return ModelFault("model_unavailable", f"connection: {exc!r}", retryable=True)
    return ModelFault("internal", repr(exc))


def backoff_delay(*, attempt: int, base: float, retry_after: float | None = None) -> float:
    """Exponential backoff with equal jitter; Retry-After, when the server sent it, wins."""
    if retry_after is not None:
        return retry_after + random.uniform(0, base / 2)
    ceiling = min(base * 2 ** (attempt - 1), 8.0)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


async def stream_with_retries(
    open_stream: Callable[[], AsyncIterator[BackendEvent]],
    *,
    retries: int,
    backoff: float,
    first_token_timeout: float | None = None,
) -> AsyncIterator[BackendEvent]:
    """Events of one model call, retrying the call while nothing has come back yet."""
    attempt = 0
    while True:
        stream = open_stream()
        started = False
        try:
            iterator = aiter(stream)
            while True:
                try:
                    if started or first_token_timeout is None:
                        event = await anext(iterator)
                    else:
                        event = await asyncio.wait_for(anext(iterator), first_token_timeout)
                except StopAsyncIteration:
                    return
                if not isinstance(event, Usage):
                    started = True
                yield event
        except Exception as exc:
            fault = fault_classify(exc)
            if started:
                logger.warning("Model stream interrupted after the first token: %s", fault)
                raise StreamInterrupted(fault.detail) from exc
            if not fault.retryable or attempt >= retries:
                logger.warning("Model call failed (attempt %d): %s", attempt + 1, fault)
                raise fault from exc
            if fault.retry_after is not None and fault.retry_after > MAX_RETRY_AFTER:
                raise fault from exc
            attempt += 1
            delay = backoff_delay(attempt=attempt, base=backoff, retry_after=fault.retry_after)
            logger.info("Model call failed (%s); retry %d in %.2fs", fault, attempt, delay)
            await asyncio.sleep(delay)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing a broken stream must not hide the real fault
                    logger.debug("Closing the model stream failed", exc_info=True)
