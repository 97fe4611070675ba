"""Tests for the FastAPI Todo example: every route, its 404/422 paths and the request encodings.

Run: ``.venv/bin/pytest -q`` from this folder.
"""

import pytest
from fastapi.testclient import TestClient

from app import create_app

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app())


def make_user(client: TestClient, name: str = "ada") -> str:
    r = client.post("/api/v1/users", json={"name": name, "email": f"{name}@example.com"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_task(client: TestClient, user: str, **body) -> dict:
    r = client.post(f"/api/v1/users/{user}/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def titles(page: dict) -> list[str]:
    return [t["title"] for t in page["items"]]


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/healthz" not in doc["paths"]
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert "create_user_api_v1_users_post" in ids
    assert len(ids) == 12
    assert client.get("/api/v1/nope").json() == {"detail": "Not Found"}


def test_users(client):
    assert client.get("/api/v1/users").json() == []
    r = client.post("/api/v1/users", json={"name": " Ada ", "email": "ada@example.com"})
    assert r.status_code == 201
    ada = r.json()
    assert set(ada) == {"id", "name", "email", "created_at"}
    assert ada["name"] == "Ada"
    assert client.get(f"/api/v1/users/{ada['id']}").json() == ada
    make_user(client, "grace")
    assert [u["name"] for u in client.get("/api/v1/users").json()] == ["Ada", "grace"]


def test_user_errors(client):
    r = client.get(f"/api/v1/users/{MISSING}")
    assert r.status_code == 404 and MISSING in r.json()["detail"]
    assert client.get("/api/v1/users/not-a-uuid").status_code == 422
    for body in [
        {"name": "Ada", "email": "ada.example.com"},
        {"name": "  ", "email": "ada@example.com"},
        {"name": "Ada"},
        {"name": "Ada", "email": "a@b", "admin": True},
    ]:
        r = client.post("/api/v1/users", json=body)
        assert r.status_code == 422, body
    assert client.get("/api/v1/users").json() == []


def test_task_lifecycle(client):
    user = make_user(client)
    minimal = make_task(client, user, title="Buy milk")
    assert minimal["status"] == "pending"
    assert minimal["priority"] == "medium"
    assert minimal["tags"] == []
    assert minimal["description"] is None and minimal["due_date"] is None
    assert minimal["completed_at"] is None
    assert set(minimal) == {
        "id", "user_id", "title", "description", "status", "priority",
        "tags", "due_date", "created_at", "completed_at",
    }

    full = make_task(
        client, user, title="File taxes", description="soon", due_date="2030-04-15",
        priority="high", tags=["home", "money"],
    )
    path = f"/api/v1/tasks/{full['id']}"
    assert client.get(path).json() == full

    r = client.patch(path, json={"title": "File taxes now", "description": None, "tags": ["money"]})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["title"] == "File taxes now"
    assert patched["description"] is None
    assert patched["due_date"] == "2030-04-15"
    assert patched["tags"] == ["money"]
    assert client.patch(path, json={}).json() == patched

    done = client.post(f"{path}/complete").json()
    assert done["status"] == "completed" and done["completed_at"]
    assert client.post(f"{path}/complete").json()["completed_at"] == done["completed_at"]

    r = client.delete(path)
    assert r.status_code == 204 and r.content == b""
    assert client.get(path).status_code == 404
    assert client.delete(path).status_code == 404
    assert client.patch(path, json={"title": "x"}).status_code == 404
    assert client.post(f"{path}/complete").status_code == 404


def test_task_errors(client):
    user = make_user(client)
    r = client.post(f"/api/v1/users/{MISSING}/tasks", json={"title": "x"})
    assert r.status_code == 404 and MISSING in r.json()["detail"]
    for body in [
        {"title": ""},
        {"title": "  "},
        {},
        {"title": "x", "priority": "urgent"},
        {"title": "x", "due_date": "2030-02-30"},
        {"title": "x", "tags": [""]},
        {"title": "x", "status": "completed"},
    ]:
        r = client.post(f"/api/v1/users/{user}/tasks", json=body)
        assert r.status_code == 422, body

    task = make_task(client, user, title="keep me")
    path = f"/api/v1/tasks/{task['id']}"
    for body in [
        {"title": ""},
        {"title": None},
        {"tags": None},
        {"priority": None},
        {"due_date": "soon"},
        {"status": "completed"},
    ]:
        assert client.patch(path, json=body).status_code == 422, body
    assert client.get(path).json() == task
    assert client.get("/api/v1/tasks/nope").status_code == 422


def test_list_tasks_filters_and_paging(client):
    ada, bob = make_user(client, "ada"), make_user(client, "bob")
    make_task(client, ada, title="a1", tags=["home", "urgent"])
    a2 = make_task(client, ada, title="a2", tags=["home"])
    make_task(client, bob, title="b1", tags=["urgent", "home", "work"])
    client.post(f"/api/v1/tasks/{a2['id']}/complete")

    def page(params=None):
        r = client.get("/api/v1/tasks", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    assert titles(page()) == ["a1", "a2", "b1"] and page()["total"] == 3
    assert titles(page({"user_id": ada})) == ["a1", "a2"]
    assert titles(page({"status": "completed"})) == ["a2"]
    assert titles(page([("tag", "home"), ("tag", "urgent")])) == ["a1", "b1"]
    assert titles(page([("tag", "urgent"), ("tag", "work")])) == ["b1"]
    p = page({"limit": 1, "offset": 1})
    assert titles(p) == ["a2"] and p["total"] == 3

    for params in [
        {"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "done"},
        {"user_id": "nope"}, {"user_id": MISSING},
    ]:
        assert client.get("/api/v1/tasks", params=params).status_code == 422, params


def test_import_tasks_multipart(client):
    user = make_user(client)
    csv = b"title,priority\nBuy milk,low\n\nCall mum,\n\"Pay rent, finally\",high\n"
    r = client.post(
        "/api/v1/tasks/import",
        data={"user_id": user},
        files={"file": ("todo.csv", csv, "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"imported": 3, "filename": "todo.csv", "content_type": "text/csv"}
    items = client.get("/api/v1/tasks", params={"user_id": user}).json()["items"]
    assert [(t["title"], t["priority"]) for t in items] == [
        ("Buy milk", "low"), ("Call mum", "medium"), ("Pay rent, finally", "high"),
    ]

    r = client.post(
        "/api/v1/tasks/import",
        data={"user_id": user},
        files={"file": ("bad.csv", b"ok,low\nnope,urgent\n", "text/csv")},
    )
    assert r.status_code == 422 and "line 2" in r.json()["detail"]
    assert client.get("/api/v1/tasks").json()["total"] == 3, "all or nothing"
    r = client.post(
        "/api/v1/tasks/import",
        data={"user_id": MISSING},
        files={"file": ("a.csv", b"x\n", "text/csv")},
    )
    assert r.status_code == 422
    assert client.post("/api/v1/tasks/import", data={"user_id": user}).status_code == 422


def test_notes_form_urlencoded(client):
    user = make_user(client)
    r = client.post(f"/api/v1/users/{user}/notes", data={"text": "hi there", "pinned": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": user,
        "text": "hi there",
        "pinned": True,
        "content_type": "application/x-www-form-urlencoded",
    }
    assert client.post(f"/api/v1/users/{user}/notes", data={"text": "x"}).json()["pinned"] is False
    assert client.post(f"/api/v1/users/{user}/notes", data={}).status_code == 422
    assert client.post(f"/api/v1/users/{MISSING}/notes", data={"text": "x"}).status_code == 404


def test_echo_query(client):
    r = client.get("/api/v1/echo/query?tag=a&tag=b%20c&q=x+y")
    assert r.json() == {
        "raw": "tag=a&tag=b%20c&q=x+y",
        "tag": ["a", "b c"],
        "params": [["tag", "a"], ["tag", "b c"], ["q", "x y"]],
    }
    assert client.get("/api/v1/echo/query").json() == {"raw": "", "tag": [], "params": []}
