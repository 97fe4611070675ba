"""One legacy (2025-11-25) session of the official MCP Python SDK client, driven through a load
balancer in front of several toolgate replicas (crates/toolgate/tests/e2e_replicas.rs).

Usage:
    python replica_client_check.py URL ROUNDS [PAUSE_MS]

Opens one session, creates a user, then for each round creates a task, reads it back and lists
resources (a request rmcp serves, so the replica it lands on wakes the session's worker),
printing `{"event": "round", ...}` after each (then pausing PAUSE_MS, default 0) so the test can
kill a replica mid-run. Ends with
a JSON summary line (`"event": "done"`). Any failed call ends the run with exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp import Client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(name, arguments)
    check(not result.is_error, f"{name} returned an error: {result.content}")
    check(result.structured_content is not None, f"{name} returned no structuredContent")
    return result.structured_content


def emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


async def main(url: str, rounds: int, pause_ms: int) -> None:
    calls = 0
    async with Client(url, mode="legacy") as client:
        emit({"event": "connected", "protocol_version": str(client.protocol_version)})
        user = await call(client, "create_user", {"name": "Fleet", "email": "fleet@example.com"})
        calls += 1
        created = []
        for i in range(rounds):
            task = await call(client, "create_task", {"user_id": user["id"], "title": f"round {i}"})
            got = await call(client, "get_task", {"task_id": task["id"]})
            check(got == task, f"get_task differs from create_task: {got} != {task}")
            resources = await client.list_resources(cache_mode="bypass")
            check(resources is not None, "resources/list returned nothing")
            calls += 3
            created.append(task["id"])
            emit({"event": "round", "round": i, "calls": calls})
            await asyncio.sleep(pause_ms / 1000)
        listed = await call(client, "list_tasks", {"user_id": user["id"], "limit": 100})
        calls += 1
        ids = {t["id"] for t in listed["items"]}
        missing = [t for t in created if t not in ids]
        check(not missing, f"completed create_task calls whose task is gone: {missing}")
        emit(
            {
                "event": "done",
                "protocol_version": str(client.protocol_version),
                "calls": calls,
                "tasks": listed["total"],
                "created": len(created),
            }
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0))
