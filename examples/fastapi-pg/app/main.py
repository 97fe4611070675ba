"""The application factory: ``uvicorn --factory app.main:create_app``.

Builds the FastAPI app from ``Settings`` (environment), creates the tables and the first
superuser at start, and names every operation ``{tag}-{function}`` (``items-read_items``), the
``generate_unique_id_function`` of FastAPI's full-stack template.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.routes import items, login, users, utils
from app.core.config import API_V1_STR, Settings
from app.core.db import init_db, make_engine

#: Requests remembered by the request log (oldest dropped first).
REQUEST_LOG_SIZE = 10_000


def custom_generate_unique_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}"


class RequestLog:
    """Pure ASGI middleware recording every request's method, path and final status (500 when
    the app raised). Pure ASGI rather than ``@app.middleware`` so an unhandled exception still
    reaches uvicorn unchanged."""

    def __init__(self, app: ASGIApp, entries: deque[dict[str, Any]]) -> None:
        self.app = app
        self.entries = entries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/internal/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.entries.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "at": time.time(),
                }
            )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]  (fields come from the env)
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        init_db(engine, settings)
        yield
        engine.dispose()

    app = FastAPI(
        title=settings.PROJECT_NAME,
        openapi_url=f"{API_V1_STR}/openapi.json",
        generate_unique_id_function=custom_generate_unique_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine

    api_router = APIRouter()
    api_router.include_router(login.router)
    api_router.include_router(users.router)
    api_router.include_router(items.router)
    api_router.include_router(utils.router)
    app.include_router(api_router, prefix=API_V1_STR)

    if settings.EXPOSE_REQUEST_LOG:
        entries: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        app.add_middleware(RequestLog, entries=entries)

        @app.get("/internal/request-log", tags=["internal"], include_in_schema=False)
        def request_log() -> list[dict[str, Any]]:
            return list(entries)

    return app
