"""Secrets that prove who is talking: resume tokens and host-signed customer identities."""

import hashlib
import hmac
import re
import secrets
from enum import StrEnum

# An expiring signature is `<expires>.<hex digest>`: HMAC-SHA256 of `<expires>:<value>` under a
# key derived from the identity secret (HMAC-SHA256 of EXPIRING_KEY_LABEL under it). A separate
# key, not a prefix: a plain signature is the digest of whatever value the host signs, so under
# the same key a plain signature of the id "1999999999:victim" would be an expiring one for
# "victim".
EXPIRING_KEY_LABEL = b"supportbot-identity-v2"
EXPIRING = re.compile(r"(\d{1,12})\.([0-9a-f]{64})")


class SignatureCheck(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    TOO_LONG = "too_long"  # expires further ahead than the bot allows
    NO_EXPIRY = "no_expiry"  # a plain signature where the bot requires expiring ones


def resume_token_new() -> tuple[str, str]:
    """A new resume token and the hash to store; the token itself is shown once, to the client."""
    token = secrets.token_urlsafe(32)
    return token, resume_token_hash(token)


def resume_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _digest(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _expiring_digest(secret: str, expires: int, value: str) -> str:
    key = hmac.new(secret.encode(), EXPIRING_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{expires}:{value}".encode(), hashlib.sha256).hexdigest()


def identity_signature(*, secret: str, value: str, expires: int | None = None) -> str:
    """What the host site sends beside a customer's email or external id.

    Without `expires`: the HMAC-SHA256 hex digest of the value. With it (a Unix time): the
    expiring form `<expires>.<digest>`, valid until then.
    """
    if expires is None:
        return _digest(secret, value)
    expires = int(expires)
    return f"{expires}.{_expiring_digest(secret, expires, value)}"


def identity_signature_check(
    *,
    secret: str,
    value: str,
    signature: str,
    now: float,
    max_ttl: int,
    require_expiry: bool = False,
) -> SignatureCheck:
    """Whether `signature` proves `value` at `now`, and if not, why."""
    if not signature:
        return SignatureCheck.MISSING
    if not (secret and value):
        return SignatureCheck.INVALID
    signature = signature.strip().lower()
    if expiring := EXPIRING.fullmatch(signature):
        expires = int(expiring[1])
        expected, given = _expiring_digest(secret, expires, value), expiring[2]
    else:
        expires = None
        expected, given = _digest(secret, value), signature
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a signature is untrusted input.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return SignatureCheck.INVALID
    if expires is None:
        return SignatureCheck.NO_EXPIRY if require_expiry else SignatureCheck.VALID
    if expires <= now:
        return SignatureCheck.EXPIRED
    if expires > now + max_ttl:
        return SignatureCheck.TOO_LONG
    return SignatureCheck.VALID
