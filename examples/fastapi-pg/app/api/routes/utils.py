"""Utilities: a health check, and a route that fails on purpose."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/utils", tags=["utils"])


@router.get("/health-check/")
def health_check() -> bool:
    """Liveness probe."""
    return True


@router.get("/crash/")
def crash() -> bool:
    """Fail with an unhandled exception (500 Internal Server Error).

    Exists to exercise clients on a server error; uvicorn also closes the connection after it
    without a ``Connection: close`` header, which a pooled client must survive.
    """
    raise RuntimeError("crash requested")
