"""Users: self-service (``/users/me``), sign-up, and superuser administration."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import col, func, select

from app import crud
from app.api.deps import CurrentUser, SessionDep, get_current_active_superuser
from app.core.security import get_password_hash, verify_password
from app.models import (
    Message,
    UpdatePassword,
    User,
    UserCreate,
    UserPublic,
    UserRegister,
    UsersPublic,
    UserUpdate,
    UserUpdateMe,
)

router = APIRouter(prefix="/users", tags=["users"])

SELF_DELETE = "Super users are not allowed to delete themselves"


@router.get("/", dependencies=[Depends(get_current_active_superuser)])
def read_users(session: SessionDep, skip: int = 0, limit: int = 100) -> UsersPublic:
    """List users (superusers only)."""
    count = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(
        select(User).order_by(col(User.created_at)).offset(skip).limit(limit)
    ).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=count)


@router.post("/", dependencies=[Depends(get_current_active_superuser)])
def create_user(session: SessionDep, user_in: UserCreate) -> UserPublic:
    """Create a user (superusers only)."""
    if crud.get_user_by_email(session, user_in.email) is not None:
        raise HTTPException(
            status_code=400, detail="The user with this email already exists in the system."
        )
    return UserPublic.model_validate(crud.create_user(session, user_in))


@router.get("/me")
def read_user_me(current_user: CurrentUser) -> UserPublic:
    """Get the current user."""
    return UserPublic.model_validate(current_user)


@router.patch("/me")
def update_user_me(
    session: SessionDep, user_in: UserUpdateMe, current_user: CurrentUser
) -> UserPublic:
    """Update the current user's name or email."""
    if user_in.email:
        existing = crud.get_user_by_email(session, user_in.email)
        if existing is not None and existing.id != current_user.id:
            raise HTTPException(status_code=409, detail="User with this email already exists")
    current_user.sqlmodel_update(user_in.model_dump(exclude_unset=True))
    session.add(current_user)
    session.commit()
    session.refresh(current_user)
    return UserPublic.model_validate(current_user)


@router.patch("/me/password")
def update_password_me(
    session: SessionDep, body: UpdatePassword, current_user: CurrentUser
) -> Message:
    """Change the current user's password; every token issued before is revoked."""
    if not verify_password(body.current_password, current_user.hashed_password):
        raise HTTPException(status_code=400, detail="Incorrect password")
    if body.current_password == body.new_password:
        raise HTTPException(
            status_code=400, detail="New password cannot be the same as the current one"
        )
    current_user.hashed_password = get_password_hash(body.new_password)
    current_user.token_version += 1
    session.add(current_user)
    session.commit()
    return Message(message="Password updated successfully")


@router.post("/me/revoke-tokens")
def revoke_tokens_me(session: SessionDep, current_user: CurrentUser) -> Message:
    """Sign out everywhere: revoke every access token issued to the current user so far."""
    current_user.token_version += 1
    session.add(current_user)
    session.commit()
    return Message(message="All tokens revoked")


@router.delete("/me")
def delete_user_me(session: SessionDep, current_user: CurrentUser) -> Message:
    """Delete the current user (not allowed for superusers)."""
    if current_user.is_superuser:
        raise HTTPException(status_code=403, detail=SELF_DELETE)
    session.delete(current_user)
    session.commit()
    return Message(message="User deleted successfully")


@router.post("/signup")
def register_user(session: SessionDep, user_in: UserRegister) -> UserPublic:
    """Create a new user without logging in."""
    if crud.get_user_by_email(session, user_in.email) is not None:
        raise HTTPException(
            status_code=400, detail="The user with this email already exists in the system"
        )
    user_create = UserCreate.model_validate(user_in)
    return UserPublic.model_validate(crud.create_user(session, user_create))


@router.get("/{user_id}")
def read_user_by_id(
    user_id: uuid.UUID, session: SessionDep, current_user: CurrentUser
) -> UserPublic:
    """Get a user by id (yourself, or anyone for a superuser)."""
    user = session.get(User, user_id)
    if user is not None and user.id == current_user.id:
        return UserPublic.model_validate(user)
    if not current_user.is_superuser:
        raise HTTPException(status_code=403, detail="The user doesn't have enough privileges")
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", dependencies=[Depends(get_current_active_superuser)])
def update_user(session: SessionDep, user_id: uuid.UUID, user_in: UserUpdate) -> Any:
    """Update a user (superusers only)."""
    db_user = session.get(User, user_id)
    if db_user is None:
        raise HTTPException(
            status_code=404, detail="The user with this id does not exist in the system"
        )
    if user_in.email:
        existing = crud.get_user_by_email(session, user_in.email)
        if existing is not None and existing.id != user_id:
            raise HTTPException(status_code=409, detail="User with this email already exists")
    return UserPublic.model_validate(crud.update_user(session, db_user, user_in))


@router.delete("/{user_id}", dependencies=[Depends(get_current_active_superuser)])
def delete_user(session: SessionDep, current_user: CurrentUser, user_id: uuid.UUID) -> Message:
    """Delete a user and their items (superusers only)."""
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    if user.id == current_user.id:
        raise HTTPException(status_code=403, detail=SELF_DELETE)
    session.delete(user)
    session.commit()
    return Message(message="User deleted successfully")
