"""The database engine and the start-up work: tables created, first superuser ensured.

The schema is created with ``SQLModel.metadata.create_all`` (no migrations: this is an example
whose database is made fresh for each run).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from app.core.config import Settings
from app.core.security import get_password_hash
from app.models import User


def make_engine(settings: Settings) -> Engine:
    return create_engine(settings.DATABASE_URL, pool_pre_ping=True)


def init_db(engine: Engine, settings: Settings) -> None:
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.email == settings.FIRST_SUPERUSER)).first()
        if user is None:
            session.add(
                User(
                    email=settings.FIRST_SUPERUSER,
                    hashed_password=get_password_hash(
                        settings.FIRST_SUPERUSER_PASSWORD.get_secret_value()
                    ),
                    is_superuser=True,
                    full_name="Superuser",
                )
            )
            session.commit()
