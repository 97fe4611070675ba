"""Items: each user sees and changes their own; superusers see all."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException
from sqlmodel import col, func, select

from app import crud
from app.api.deps import CurrentUser, SessionDep
from app.models import Item, ItemCreate, ItemPublic, ItemsPublic, ItemUpdate, Message

router = APIRouter(prefix="/items", tags=["items"])


def _owned_item(session: SessionDep, current_user: CurrentUser, item_id: uuid.UUID) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    if not current_user.is_superuser and item.owner_id != current_user.id:
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return item


@router.get("/")
def read_items(
    session: SessionDep, current_user: CurrentUser, skip: int = 0, limit: int = 100
) -> ItemsPublic:
    """List items, newest last."""
    count_q = select(func.count()).select_from(Item)
    items_q = select(Item)
    if not current_user.is_superuser:
        count_q = count_q.where(Item.owner_id == current_user.id)
        items_q = items_q.where(Item.owner_id == current_user.id)
    count = session.exec(count_q).one()
    items = session.exec(items_q.order_by(col(Item.created_at)).offset(skip).limit(limit)).all()
    return ItemsPublic(data=[ItemPublic.model_validate(i) for i in items], count=count)


@router.get("/{id}")
def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> ItemPublic:
    """Get an item by id."""
    return ItemPublic.model_validate(_owned_item(session, current_user, id))


@router.post("/")
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> ItemPublic:
    """Create an item owned by the current user."""
    return ItemPublic.model_validate(crud.create_item(session, item_in, current_user))


@router.put("/{id}")
def update_item(
    session: SessionDep, current_user: CurrentUser, id: uuid.UUID, item_in: ItemUpdate
) -> ItemPublic:
    """Update an item: only the fields sent change."""
    item = _owned_item(session, current_user, id)
    item.sqlmodel_update(item_in.model_dump(exclude_unset=True))
    session.add(item)
    session.commit()
    session.refresh(item)
    return ItemPublic.model_validate(item)


@router.delete("/{id}")
def delete_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> Message:
    """Delete an item."""
    session.delete(_owned_item(session, current_user, id))
    session.commit()
    return Message(message="Item deleted successfully")
