"""Request dependencies: the database session, the settings and the authenticated user.

A missing, malformed, expired or revoked token is a 401 with ``WWW-Authenticate: Bearer``
(RFC 6750), as in FastAPI's security tutorial. (The full-stack template answers 403 for a bad
token; a client could then not tell "log in again" from "not allowed".)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.core.config import API_V1_STR, Settings
from app.core.security import decode_access_token
from app.models import User

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl=f"{API_V1_STR}/login/access-token")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
TokenDep = Annotated[str, Depends(reusable_oauth2)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_current_user(session: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    try:
        claims = decode_access_token(token, settings.SECRET_KEY.get_secret_value())
        user_id = uuid.UUID(str(claims["sub"]))
    except jwt.ExpiredSignatureError:
        raise _unauthorized("Token expired") from None
    except (jwt.InvalidTokenError, ValueError):
        raise _unauthorized("Could not validate credentials") from None
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    if claims.get("ver") != user.token_version:
        raise _unauthorized("Token revoked")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_active_superuser(current_user: CurrentUser) -> User:
    if not current_user.is_superuser:
        raise HTTPException(status_code=403, detail="The user doesn't have enough privileges")
    return current_user
