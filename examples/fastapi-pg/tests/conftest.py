"""Fixtures: a fresh PostgreSQL database for the session, the app on it, and users.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (an admin connection URL; default the local server,
``postgresql://postgres@127.0.0.1:5432/postgres``). Without it the tests are skipped with the
reason, except under ``CI=true``, where a missing database fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import API_V1_STR, Settings
from app.main import create_app

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SUPERUSER = "root@example.com"
SUPERUSER_PASSWORD = "correct horse battery staple"
TOKEN_LIFETIME_S = 60


def _in_ci() -> bool:
    return os.environ.get("CI") in ("true", "1")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"fastapi_pg_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        message = f"PostgreSQL is not reachable at {ADMIN_URL} (set TEST_POSTGRES_URL): {e}"
        if _in_ci():
            pytest.fail(f"{message} (required under CI=true)", pytrace=False)
        pytest.skip(message)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            server, _, _ = ADMIN_URL.rpartition("/")
            yield f"{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        DATABASE_URL=database_url,
        FIRST_SUPERUSER=SUPERUSER,
        FIRST_SUPERUSER_PASSWORD=SUPERUSER_PASSWORD,
        ACCESS_TOKEN_EXPIRE_SECONDS=TOKEN_LIFETIME_S,
        EXPOSE_REQUEST_LOG=True,
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    # `with` runs the lifespan: tables and the superuser are created.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    r = client.post(
        f"{API_V1_STR}/login/access-token", data={"username": email, "password": password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="session")
def superuser_headers(client: TestClient) -> dict[str, str]:
    return login(client, SUPERUSER, SUPERUSER_PASSWORD)


@dataclass
class User:
    id: str
    email: str
    password: str
    headers: dict[str, str]


@pytest.fixture
def make_user(client: TestClient):
    """Signs up a new ordinary user and logs them in."""

    def make() -> User:
        email = f"user-{uuid.uuid4().hex[:8]}@example.com"
        password = f"pw-{uuid.uuid4().hex}"
        r = client.post(f"{API_V1_STR}/users/signup", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return User(r.json()["id"], email, password, login(client, email, password))

    return make
