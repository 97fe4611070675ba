"""Login: the OAuth2 password grant (``POST /login/access-token``) and a token check."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm

from app import crud
from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.core.security import create_access_token
from app.models import Token, UserPublic

router = APIRouter(tags=["login"])


@router.post("/login/access-token")
def login_access_token(
    session: SessionDep,
    settings: SettingsDep,
    form_data: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """OAuth2 compatible token login: exchange an email and password for an access token."""
    user = crud.authenticate(session, email=form_data.username, password=form_data.password)
    if user is None:
        raise HTTPException(status_code=400, detail="Incorrect email or password")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    lifetime = settings.ACCESS_TOKEN_EXPIRE_SECONDS
    token = create_access_token(
        str(user.id),
        user.token_version,
        timedelta(seconds=lifetime),
        settings.SECRET_KEY.get_secret_value(),
    )
    return Token(access_token=token, expires_in=lifetime)


@router.post("/login/test-token")
def test_token(current_user: CurrentUser) -> UserPublic:
    """Check an access token: returns the user it was issued to."""
    return UserPublic.model_validate(current_user)
