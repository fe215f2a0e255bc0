"""Secrets that prove who is talking: resume tokens and host-signed customer identities."""

import hashlib
import hmac
import secrets


def resume_token_new() -> tuple[str, str]:
    """A new resume token and the hash to store; the token itself is shown once, to the client."""
    token = secrets.token_urlsafe(32)
    return token, resume_token_hash(token)


def resume_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_signature(*, secret: str, value: str) -> str:
    """HMAC-SHA256 hex digest the host site computes over a customer's email or external id."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def identity_signature_valid(*, secret: str, value: str, signature: str) -> bool:
    if not (secret and value and signature):
        return False
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a signature is untrusted input.
    expected = identity_signature(secret=secret, value=value).encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode())
