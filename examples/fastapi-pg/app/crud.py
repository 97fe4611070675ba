"""Database operations shared by the routes and the start-up code."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from app.core.security import get_password_hash, verify_password
from app.models import Item, ItemCreate, User, UserCreate, UserUpdate

# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = get_password_hash("not-a-real-password")


def create_user(session: Session, user_create: UserCreate) -> User:
    user = User.model_validate(
        user_create, update={"hashed_password": get_password_hash(user_create.password)}
    )
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def update_user(session: Session, db_user: User, user_in: UserUpdate) -> User:
    data = user_in.model_dump(exclude_unset=True)
    extra: dict[str, Any] = {}
    if "password" in data:
        password = data.pop("password")
        if password is not None:
            extra["hashed_password"] = get_password_hash(password)
            extra["token_version"] = db_user.token_version + 1
    db_user.sqlmodel_update(data, update=extra)
    session.add(db_user)
    session.commit()
    session.refresh(db_user)
    return db_user


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = get_user_by_email(session, email)
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.hashed_password):
        return None
    return user


def create_item(session: Session, item_in: ItemCreate, owner: User) -> Item:
    item = Item.model_validate(item_in, update={"owner_id": owner.id})
    session.add(item)
    session.commit()
    session.refresh(item)
    return item
