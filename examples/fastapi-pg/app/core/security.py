"""Password hashing (Argon2 via pwdlib) and access tokens (HS256 JWTs via PyJWT).

A token carries the user id (``sub``), the user's ``token_version`` (``ver``; bumping it revokes
every token issued before) and an expiry (``exp``). Checking a token against the database is
``app.api.deps``' job, not this module's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash

ALGORITHM = "HS256"

password_hash = PasswordHash.recommended()


def create_access_token(subject: str, version: int, expires_delta: timedelta, key: str) -> str:
    expire = datetime.now(UTC) + expires_delta
    payload: dict[str, Any] = {"exp": expire, "sub": subject, "ver": version}
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(token: str, key: str) -> dict[str, Any]:
    """The token's claims; raises ``jwt.InvalidTokenError`` (expired, bad signature, malformed)."""
    return jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})


def verify_password(plain_password: str, hashed_password: str) -> bool:
    return password_hash.verify(plain_password, hashed_password)


def get_password_hash(password: str) -> str:
    return password_hash.hash(password)
