"""The example service itself, on a real PostgreSQL database (see conftest.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from app.core.config import API_V1_STR, Settings
from app.core.security import create_access_token, decode_access_token
from app.main import create_app
from tests.conftest import SUPERUSER, SUPERUSER_PASSWORD, TOKEN_LIFETIME_S, login

ITEMS = f"{API_V1_STR}/items/"
LOGIN = f"{API_V1_STR}/login/access-token"


# --- The OpenAPI document toolgate reads -----------------------------------------------------


def test_operation_ids_are_tag_prefixed_and_login_is_the_password_flow(client: TestClient) -> None:
    spec = client.get(f"{API_V1_STR}/openapi.json").json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "items-read_items",
        "items-create_item",
        "users-read_user_me",
        "login-login_access_token",
    } <= ids
    assert all(
        "-" in i and i.split("-", 1)[0] in {"login", "users", "items", "utils"} for i in ids
    ), ids
    scheme = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme == {"type": "oauth2", "flows": {"password": {"scopes": {}, "tokenUrl": LOGIN}}}
    login_op = spec["paths"][LOGIN]["post"]
    assert "security" not in login_op
    assert "application/x-www-form-urlencoded" in login_op["requestBody"]["content"]
    item_id = spec["paths"][f"{ITEMS}{{id}}"]["get"]["parameters"][0]
    assert item_id["schema"] == {"type": "string", "format": "uuid", "title": "Id"}
    assert "/internal/request-log" not in spec["paths"]


# --- Login and tokens ------------------------------------------------------------------------


def test_the_superuser_from_the_environment_logs_in(client: TestClient, settings: Settings) -> None:
    r = client.post(LOGIN, data={"username": SUPERUSER, "password": SUPERUSER_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == TOKEN_LIFETIME_S
    claims = decode_access_token(body["access_token"], settings.SECRET_KEY.get_secret_value())
    me = client.get(
        f"{API_V1_STR}/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == SUPERUSER and me.json()["is_superuser"] is True
    assert claims["sub"] == me.json()["id"]
    assert "hashed_password" not in me.json()


@pytest.mark.parametrize(
    ("username", "password"),
    [(SUPERUSER, "wrong password"), ("nobody@example.com", SUPERUSER_PASSWORD)],
)
def test_a_wrong_email_or_password_is_a_400(
    client: TestClient, username: str, password: str
) -> None:
    r = client.post(LOGIN, data={"username": username, "password": password})
    assert r.status_code == 400
    assert r.json() == {"detail": "Incorrect email or password"}


def test_no_token_is_a_401_asking_for_a_bearer_token(client: TestClient) -> None:
    r = client.get(ITEMS)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_an_expired_token_is_a_401(
    client: TestClient, settings: Settings, superuser_headers
) -> None:
    me = client.get(f"{API_V1_STR}/users/me", headers=superuser_headers).json()
    expired = create_access_token(
        me["id"], 0, timedelta(seconds=-1), settings.SECRET_KEY.get_secret_value()
    )
    r = client.get(ITEMS, headers={"Authorization": f"Bearer {expired}"})
    assert (r.status_code, r.json()) == (401, {"detail": "Token expired"})
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_token_signed_with_another_key_is_a_401(client: TestClient, superuser_headers) -> None:
    me = client.get(f"{API_V1_STR}/users/me", headers=superuser_headers).json()
    forged = create_access_token(me["id"], 0, timedelta(minutes=5), "not-the-key-" + "x" * 32)
    r = client.get(ITEMS, headers={"Authorization": f"Bearer {forged}"})
    assert (r.status_code, r.json()) == (401, {"detail": "Could not validate credentials"})


def test_revoking_tokens_makes_earlier_tokens_401(client: TestClient, make_user) -> None:
    user = make_user()
    r = client.post(f"{API_V1_STR}/users/me/revoke-tokens", headers=user.headers)
    assert r.status_code == 200, r.text
    r = client.get(ITEMS, headers=user.headers)
    assert (r.status_code, r.json()) == (401, {"detail": "Token revoked"})
    assert client.get(ITEMS, headers=login(client, user.email, user.password)).status_code == 200


def test_changing_the_password_revokes_tokens_and_the_old_password(
    client: TestClient, make_user
) -> None:
    user = make_user()
    body = {"current_password": user.password, "new_password": user.password + "-new"}
    r = client.patch(f"{API_V1_STR}/users/me/password", headers=user.headers, json=body)
    assert r.status_code == 200, r.text
    assert client.get(ITEMS, headers=user.headers).status_code == 401
    r = client.post(LOGIN, data={"username": user.email, "password": user.password})
    assert r.status_code == 400
    login(client, user.email, user.password + "-new")


# --- Items -----------------------------------------------------------------------------------


def test_item_crud_with_uuid_ids(client: TestClient, make_user) -> None:
    user = make_user()
    r = client.post(
        ITEMS, headers=user.headers, json={"title": "Buy milk", "description": "2 litres"}
    )
    assert r.status_code == 200, r.text
    item = r.json()
    assert str(uuid.UUID(item["id"])) == item["id"]
    assert item["owner_id"] == user.id
    assert client.get(f"{ITEMS}{item['id']}", headers=user.headers).json() == item
    listed = client.get(ITEMS, headers=user.headers).json()
    assert listed == {"data": [item], "count": 1}

    r = client.put(f"{ITEMS}{item['id']}", headers=user.headers, json={"title": "Buy oat milk"})
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["description"]) == ("Buy oat milk", "2 litres")

    r = client.delete(f"{ITEMS}{item['id']}", headers=user.headers)
    assert r.json() == {"message": "Item deleted successfully"}
    r = client.get(f"{ITEMS}{item['id']}", headers=user.headers)
    assert (r.status_code, r.json()) == (404, {"detail": "Item not found"})


def test_an_item_id_that_is_not_a_uuid_is_a_422(client: TestClient, superuser_headers) -> None:
    r = client.get(f"{ITEMS}not-a-uuid", headers=superuser_headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "id"]
    assert r.json()["detail"][0]["type"] == "uuid_parsing"


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_blank_title_is_a_422_on_the_field(client: TestClient, make_user, method: str) -> None:
    user = make_user()
    url = ITEMS
    if method == "put":
        url += client.post(ITEMS, headers=user.headers, json={"title": "x"}).json()["id"]
    r = getattr(client, method)(url, headers=user.headers, json={"title": "   "})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "title"]
    assert error["msg"] == "Value error, must contain a non-space character"


def test_users_see_only_their_items_and_superusers_see_all(
    client: TestClient, make_user, superuser_headers
) -> None:
    alice, bob = make_user(), make_user()
    item = client.post(ITEMS, headers=alice.headers, json={"title": "Alice's"}).json()
    r = client.get(f"{ITEMS}{item['id']}", headers=bob.headers)
    assert (r.status_code, r.json()) == (403, {"detail": "Not enough permissions"})
    assert client.delete(f"{ITEMS}{item['id']}", headers=bob.headers).status_code == 403
    assert client.get(ITEMS, headers=bob.headers).json()["count"] == 0
    assert client.get(f"{ITEMS}{item['id']}", headers=superuser_headers).status_code == 200


# --- Users -----------------------------------------------------------------------------------


def test_a_superuser_cannot_delete_themselves(client: TestClient, superuser_headers) -> None:
    me = client.get(f"{API_V1_STR}/users/me", headers=superuser_headers).json()
    for url in (f"{API_V1_STR}/users/me", f"{API_V1_STR}/users/{me['id']}"):
        r = client.delete(url, headers=superuser_headers)
        assert (r.status_code, r.json()) == (
            403,
            {"detail": "Super users are not allowed to delete themselves"},
        )


def test_ordinary_users_cannot_administer(client: TestClient, make_user) -> None:
    user = make_user()
    r = client.get(f"{API_V1_STR}/users/", headers=user.headers)
    assert (r.status_code, r.json()) == (403, {"detail": "The user doesn't have enough privileges"})


def test_a_superuser_manages_users(client: TestClient, superuser_headers) -> None:
    email = f"made-{uuid.uuid4().hex[:8]}@example.com"
    r = client.post(
        f"{API_V1_STR}/users/",
        headers=superuser_headers,
        json={"email": email, "password": "12345678"},
    )
    assert r.status_code == 200, r.text
    user_id = r.json()["id"]
    r = client.post(
        f"{API_V1_STR}/users/",
        headers=superuser_headers,
        json={"email": email, "password": "12345678"},
    )
    assert r.status_code == 400
    r = client.patch(
        f"{API_V1_STR}/users/{user_id}", headers=superuser_headers, json={"full_name": "Made"}
    )
    assert r.json()["full_name"] == "Made"
    assert (
        client.delete(f"{API_V1_STR}/users/{user_id}", headers=superuser_headers).status_code == 200
    )
    r = client.get(f"{API_V1_STR}/users/{user_id}", headers=superuser_headers)
    assert (r.status_code, r.json()) == (404, {"detail": "User not found"})


def test_an_ordinary_user_deletes_themselves_and_their_items(client: TestClient, make_user) -> None:
    user = make_user()
    client.post(ITEMS, headers=user.headers, json={"title": "gone with me"})
    r = client.delete(f"{API_V1_STR}/users/me", headers=user.headers)
    assert r.json() == {"message": "User deleted successfully"}
    assert client.get(ITEMS, headers=user.headers).status_code == 404  # the token's user is gone


# --- Failures and the request log -----------------------------------------------------------


def test_crash_is_an_unhandled_500_and_is_logged(client: TestClient) -> None:
    r = client.get(f"{API_V1_STR}/utils/crash/")
    assert r.status_code == 500
    log = client.get("/internal/request-log").json()
    assert {"method": "GET", "path": f"{API_V1_STR}/utils/crash/", "status": 500} in [
        {k: e[k] for k in ("method", "path", "status")} for e in log
    ]
    assert not [e for e in log if e["path"].startswith("/internal/")]


def test_the_request_log_is_off_by_default(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"EXPOSE_REQUEST_LOG": False}))
    with TestClient(app) as client:
        assert client.get("/internal/request-log").status_code == 404
        assert client.get(f"{API_V1_STR}/utils/health-check/").json() is True
    app.state.engine.dispose()


# --- Settings --------------------------------------------------------------------------------


def test_settings_never_show_secrets_and_accept_plain_postgresql_urls() -> None:
    s = Settings(
        _env_file=None,
        FIRST_SUPERUSER_PASSWORD="hunter2-hunter2",
        DATABASE_URL="postgresql://u@h/db",
    )
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.DATABASE_URL == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError, match="at least 8 characters"):
        Settings(_env_file=None, FIRST_SUPERUSER_PASSWORD="short")
