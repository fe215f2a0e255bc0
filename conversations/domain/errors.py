"""The one error type of the domain: a stable `code` for programs and a `message` for people.

Domain functions raise DomainError (or a subclass naming the concern); each transport maps it
to its envelope in one place: the API and widget JSON in transports/api/errors.py, the
websocket `error` event in the consumers.
"""


class DomainError(Exception):
    """A refusal the caller can show: `code` for programs, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
