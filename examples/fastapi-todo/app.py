"""The toolgate example Todo API (users and tasks) in FastAPI.

Same paths, semantics and JSON shapes as the Rust example in ``examples/todo-api``, so toolgate
can be tried against either. Data lives in memory and is lost on restart. FastAPI writes the
OpenAPI 3.1 document itself (``GET /openapi.json``) and names operations
``<function>_<path>_<method>`` (for example ``create_user_api_v1_users_post``).

Beyond the Rust API, three routes exist to test how toolgate sends requests:

* ``POST /api/v1/tasks/import``: ``multipart/form-data`` with a CSV file upload;
* ``POST /api/v1/users/{user_id}/notes``: ``application/x-www-form-urlencoded`` fields;
* ``GET /api/v1/echo/query``: echoes the raw query string and the parsed repeated ``tag``.

One known difference from the Rust API: request validation errors (422) use FastAPI's own body,
``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, rather than a string ``detail``;
errors raised by the handlers (404, and 422 for an unknown ``user_id``) are ``{"detail": "..."}``.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

LIMIT_DEFAULT = 50
LIMIT_MAX = 500


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _non_blank(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{field}: must not be empty")
    return value


def _check_email(value: str) -> str:
    value = value.strip()
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise ValueError(f"email: {value!r} is not an email address (expected name@domain)")
    return value


def _check_tags(tags: list[str]) -> list[str]:
    return [_non_blank(f"tags[{i}]", t) for i, t in enumerate(tags)]


def _no_default(schema: dict[str, Any]) -> None:
    """Drops ``default: null`` from PATCH fields: absent means "unchanged", not null."""
    schema.pop("default", None)


def _non_blank_no_default(schema: dict[str, Any]) -> None:
    """``_no_default`` plus ``minLength: 1``, which pydantic cannot apply to ``str | None``."""
    _no_default(schema)
    schema["minLength"] = 1


# --- Models ----------------------------------------------------------------------------------


class Priority(str, Enum):
    """How important the task is."""

    low = "low"
    medium = "medium"
    high = "high"


class TaskStatus(str, Enum):
    """Where the task is in its life."""

    pending = "pending"
    completed = "completed"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Display name", examples=["Ada Lovelace"])
    email: str = Field(json_schema_extra={"format": "email"}, examples=["ada@example.com"])

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _non_blank("name", v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _check_email(v)


class User(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    created_at: datetime


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, examples=["Buy milk"])
    description: str | None = None
    due_date: date | None = Field(None, description="Calendar date, YYYY-MM-DD")
    priority: Priority = Priority.medium
    tags: list[str] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return _non_blank("title", v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return _check_tags(v)


class TaskUpdate(BaseModel):
    """Only the fields present are changed."""

    model_config = ConfigDict(extra="forbid")

    # `SkipJsonSchema[None]`: the document says "string", but the Python default must be None
    # to tell "absent" from "sent"; an explicit null is refused by the validator below.
    title: str | SkipJsonSchema[None] = Field(None, json_schema_extra=_non_blank_no_default)
    description: str | None = Field(
        None, description="`null` clears it", json_schema_extra=_no_default
    )
    priority: Priority | SkipJsonSchema[None] = Field(None, json_schema_extra=_no_default)
    due_date: date | None = Field(
        None, description="YYYY-MM-DD; `null` clears it", json_schema_extra=_no_default
    )
    tags: list[str] | SkipJsonSchema[None] = Field(
        None, description="Replaces all tags", json_schema_extra=_no_default
    )

    @field_validator("title", "priority", "tags")
    @classmethod
    def _not_null(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            raise ValueError(f"{info.field_name}: must not be null")
        if info.field_name == "title":
            return _non_blank("title", v)
        if info.field_name == "tags":
            return _check_tags(v)
        return v


class Task(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID = Field(description="The owner")
    title: str
    description: str | None
    status: TaskStatus
    priority: Priority
    tags: list[str]
    due_date: date | None
    created_at: datetime
    completed_at: datetime | None


class TaskPage(BaseModel):
    items: list[Task]
    total: int = Field(ge=0, description="Matching tasks before paging")


class ImportResult(BaseModel):
    imported: int
    filename: str | None
    content_type: str | None


class Note(BaseModel):
    user_id: uuid.UUID
    text: str
    pinned: bool
    content_type: str | None = Field(description="The request's Content-Type, as received")


class QueryEcho(BaseModel):
    raw: str = Field(description="The query string exactly as received (still percent-encoded)")
    tag: list[str] = Field(description="Every `tag` value, in order")
    params: list[tuple[str, str]] = Field(description="All decoded (key, value) pairs, in order")


class Error(BaseModel):
    detail: str


NOT_FOUND = {404: {"model": Error, "description": "No such user or task"}}


# --- App -------------------------------------------------------------------------------------


def create_app() -> FastAPI:
    """Builds the app with fresh, empty in-memory state (tests build one each)."""
    users: dict[uuid.UUID, User] = {}
    tasks: dict[uuid.UUID, Task] = {}

    app = FastAPI(
        title="Todo API",
        version="1.0.0",
        description=(
            "A small in-memory Todo API: users own tasks; tasks can be tagged, prioritised, "
            "filtered, completed and deleted. All data is lost on restart."
        ),
        openapi_tags=[
            {"name": "users", "description": "People who own tasks"},
            {"name": "tasks", "description": "Things to do, owned by a user"},
            {"name": "echo", "description": "Request echoes for testing clients"},
        ],
    )

    def user_or_404(user_id: uuid.UUID) -> User:
        user = users.get(user_id)
        if user is None:
            raise HTTPException(404, detail=f"user {user_id} not found")
        return user

    def task_or_404(task_id: uuid.UUID) -> Task:
        task = tasks.get(task_id)
        if task is None:
            raise HTTPException(404, detail=f"task {task_id} not found")
        return task

    def new_task(user_id: uuid.UUID, body: TaskCreate) -> Task:
        task = Task(
            id=uuid.uuid4(),
            user_id=user_id,
            title=body.title,
            description=body.description,
            status=TaskStatus.pending,
            priority=body.priority,
            tags=body.tags,
            due_date=body.due_date,
            created_at=_now(),
            completed_at=None,
        )
        tasks[task.id] = task
        return task

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/users", status_code=201, tags=["users"], summary="Create a user")
    def create_user(body: UserCreate) -> User:
        """Registers a user. The email must contain an `@`; the name must not be blank."""
        user = User(id=uuid.uuid4(), name=body.name, email=body.email, created_at=_now())
        users[user.id] = user
        return user

    @app.get("/api/v1/users", tags=["users"], summary="List users")
    def list_users() -> list[User]:
        """Returns every user, oldest first."""
        return list(users.values())

    @app.get("/api/v1/users/{user_id}", tags=["users"], summary="Get a user", responses=NOT_FOUND)
    def get_user(user_id: uuid.UUID) -> User:
        """Returns one user by id."""
        return user_or_404(user_id)

    @app.post(
        "/api/v1/users/{user_id}/tasks",
        status_code=201,
        tags=["tasks"],
        summary="Create a task for a user",
        responses=NOT_FOUND,
    )
    def create_task(user_id: uuid.UUID, body: TaskCreate) -> Task:
        """Creates a pending task owned by the user. Only `title` is required; `priority`
        defaults to `medium` and `tags` to an empty list."""
        user_or_404(user_id)
        return new_task(user_id, body)

    @app.get("/api/v1/tasks", tags=["tasks"], summary="List tasks")
    def list_tasks(
        user_id: Annotated[
            uuid.UUID | None, Query(description="Only tasks owned by this user (must exist).")
        ] = None,
        status: Annotated[TaskStatus | None, Query(description="Only tasks in this state.")] = None,
        tag: Annotated[
            list[str] | None,
            Query(
                description="Only tasks carrying all of these tags; repeat the parameter for "
                "several (`?tag=a&tag=b`)."
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=LIMIT_MAX, description="Maximum number of tasks to return.")
        ] = LIMIT_DEFAULT,
        offset: Annotated[int, Query(ge=0, description="Number of matching tasks to skip.")] = 0,
    ) -> TaskPage:
        """Returns tasks matching every given filter, oldest first, one page at a time.
        `total` counts all matches before paging."""
        if user_id is not None and user_id not in users:
            raise HTTPException(422, detail=f"user_id: no user with id {user_id}")
        wanted = tag or []
        matching = [
            t
            for t in tasks.values()
            if (user_id is None or t.user_id == user_id)
            and (status is None or t.status == status)
            and all(w in t.tags for w in wanted)
        ]
        return TaskPage(items=matching[offset : offset + limit], total=len(matching))

    @app.post(
        "/api/v1/tasks/import",
        tags=["tasks"],
        summary="Import tasks from a CSV file",
    )
    async def import_tasks(
        file: Annotated[
            UploadFile, File(description="CSV, one task per line: `title,priority` (priority optional)")
        ],
        user_id: Annotated[uuid.UUID, Form(description="Owner of the imported tasks")],
    ) -> ImportResult:
        """Creates one pending task per CSV line (`multipart/form-data` upload). Blank lines and
        a `title,priority` header line are skipped; nothing is created if any line is invalid."""
        if user_id not in users:
            raise HTTPException(422, detail=f"user_id: no user with id {user_id}")
        text = (await file.read()).decode("utf-8-sig", errors="replace")
        bodies: list[TaskCreate] = []
        for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or [c.lower() for c in cells] == ["title", "priority"]:
                continue
            title, priority = cells[0], (cells[1] if len(cells) > 1 and cells[1] else "medium")
            try:
                bodies.append(TaskCreate(title=title, priority=Priority(priority)))
            except ValueError as e:
                raise HTTPException(422, detail=f"{file.filename} line {lineno}: {e}") from None
        for body in bodies:
            new_task(user_id, body)
        return ImportResult(
            imported=len(bodies), filename=file.filename, content_type=file.content_type
        )

    @app.get("/api/v1/tasks/{task_id}", tags=["tasks"], summary="Get a task", responses=NOT_FOUND)
    def get_task(task_id: uuid.UUID) -> Task:
        """Returns one task by id."""
        return task_or_404(task_id)

    @app.patch(
        "/api/v1/tasks/{task_id}", tags=["tasks"], summary="Update a task", responses=NOT_FOUND
    )
    def update_task(task_id: uuid.UUID, body: TaskUpdate) -> Task:
        """Changes only the fields sent. Send `null` to clear `description` or `due_date`.
        Use `complete_task` to change the status."""
        task = task_or_404(task_id)
        updated = task.model_copy(update={k: getattr(body, k) for k in body.model_fields_set})
        tasks[task_id] = updated
        return updated

    @app.post(
        "/api/v1/tasks/{task_id}/complete",
        tags=["tasks"],
        summary="Complete a task",
        responses=NOT_FOUND,
    )
    def complete_task(task_id: uuid.UUID) -> Task:
        """Marks the task completed and sets `completed_at`. Completing a completed task
        changes nothing."""
        task = task_or_404(task_id)
        if task.status == TaskStatus.pending:
            task = task.model_copy(
                update={"status": TaskStatus.completed, "completed_at": _now()}
            )
            tasks[task_id] = task
        return task

    @app.delete(
        "/api/v1/tasks/{task_id}",
        status_code=204,
        tags=["tasks"],
        summary="Delete a task",
        responses=NOT_FOUND,
    )
    def delete_task(task_id: uuid.UUID) -> Response:
        """Deletes the task for good."""
        task_or_404(task_id)
        del tasks[task_id]
        return Response(status_code=204)

    @app.post(
        "/api/v1/users/{user_id}/notes",
        tags=["users"],
        summary="Echo a note sent as a form",
        responses=NOT_FOUND,
    )
    def create_note(
        request: Request,
        user_id: uuid.UUID,
        text: Annotated[str, Form(description="The note")],
        pinned: Annotated[bool, Form(description="Pin it to the top")] = False,
    ) -> Note:
        """Takes `application/x-www-form-urlencoded` fields and returns what it received
        (nothing is stored)."""
        user_or_404(user_id)
        return Note(
            user_id=user_id,
            text=text,
            pinned=pinned,
            content_type=request.headers.get("content-type"),
        )

    @app.get("/api/v1/echo/query", tags=["echo"], summary="Echo the query string")
    def echo_query(
        request: Request,
        tag: Annotated[list[str] | None, Query(description="Repeatable: `?tag=a&tag=b`")] = None,
        q: Annotated[str | None, Query(description="Any text")] = None,
    ) -> QueryEcho:
        """Returns the raw query string, the parsed `tag` list and every decoded pair, to check
        how a client serializes query parameters."""
        return QueryEcho(
            raw=request.url.query,
            tag=tag or [],
            params=list(request.query_params.multi_items()),
        )

    return app


app = create_app()
