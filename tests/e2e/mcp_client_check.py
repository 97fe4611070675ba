"""Drives a toolgate-served Todo API with the official MCP Python SDK client.

Usage:
    python mcp_client_check.py --http URL [--mode auto|legacy|2026-07-28]
    python mcp_client_check.py --stdio COMMAND [ARGS...]

Lists the tools, then creates a user and a task, lists and gets tasks, and checks the
returned data. Prints a JSON summary on success; exits 1 with a message on any mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mcp import Client, StdioServerParameters


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(name, arguments)
    check(not result.is_error, f"{name} returned an error: {result.content}")
    check(result.structured_content is not None, f"{name} returned no structuredContent")
    text = [c for c in result.content if getattr(c, "type", None) == "text"]
    check(bool(text), f"{name} returned no text copy of its result")
    return result.structured_content


async def scenario(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    for want in ("create_user", "create_task", "list_tasks", "get_task", "complete_task"):
        check(want in names, f"tool {want} missing from {sorted(names)}")
    for tool in tools:
        check(bool(tool.description), f"tool {tool.name} has no description")
        check(tool.input_schema.get("type") == "object", f"tool {tool.name} inputSchema is not an object")

    user = await call(client, "create_user", {"name": "Linus", "email": "linus@example.com"})
    check(user.get("email") == "linus@example.com", f"unexpected user {user}")
    task = await call(
        client,
        "create_task",
        {"user_id": user["id"], "title": "Review patches", "priority": "low", "tags": ["kernel"]},
    )
    check(task.get("title") == "Review patches" and task.get("status") == "pending", f"unexpected task {task}")
    await call(client, "create_task", {"user_id": user["id"], "title": "Second task"})

    listed = await call(client, "list_tasks", {"user_id": user["id"], "tag": ["kernel"]})
    check(listed.get("total") == 1, f"tag filter should match one task: {listed}")
    check(listed["items"][0]["id"] == task["id"], f"wrong task listed: {listed}")
    everything = await call(client, "list_tasks", {"user_id": user["id"]})
    check(everything.get("total") == 2, f"expected two tasks: {everything}")

    got = await call(client, "get_task", {"task_id": task["id"]})
    check(got == task, f"get_task differs from create_task: {got} != {task}")
    done = await call(client, "complete_task", {"task_id": task["id"]})
    check(done.get("status") == "completed", f"task not completed: {done}")

    bad = await client.call_tool("create_task", {"user_id": user["id"]})
    check(bool(bad.is_error), "a call missing a required argument must be a tool error")

    return {
        "protocol_version": str(client.protocol_version),
        "tools": sorted(names),
        "user": user["id"],
        "task": task["id"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--http")
    target.add_argument("--stdio", nargs=argparse.REMAINDER)
    parser.add_argument("--mode", default="auto")
    args = parser.parse_args()
    if args.http:
        server: Any = args.http
    else:
        server = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:])
    async with Client(server, mode=args.mode) as client:
        summary = await scenario(client)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
