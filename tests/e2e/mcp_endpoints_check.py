"""Drives the two virtual servers of `toolgate demo` with the official MCP Python SDK client.

Usage:
    python mcp_endpoints_check.py --base http://HOST:PORT [--mode auto|legacy|2026-07-28]

`/mcp/readonly` serves only the Todo API's read-only tools, every one listed: the client
lists them, calls one, and finds that a write tool does not exist there (refused exactly as
an unknown tool). `/mcp/admin` serves every tool behind the meta-tools: the client finds
`create_user` with `search_tools` and runs it with `call_tool`. Prints a JSON summary on
success; exits 1 with a message on any mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mcp import Client

READ_ONLY = ["get_task", "get_user", "list_tasks", "list_users"]


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


async def refused(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """The refusal of a call to a tool the endpoint does not serve (an error either way)."""
    try:
        result = await client.call_tool(name, arguments)
    except Exception as e:  # the SDK raises for a JSON-RPC error
        return f"error: {e}"
    check(bool(result.is_error), f"{name} must not run here: {result.content}")
    return f"isError: {result.content}"


async def readonly(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    names = sorted(t.name for t in tools)
    check(names == READ_ONLY, f"/mcp/readonly should list only the read-only tools, got {names}")
    for tool in tools:
        hint = tool.annotations.read_only_hint if tool.annotations else None
        check(hint is True, f"{tool.name} is not read-only: {tool.annotations}")
    users = await client.call_tool("list_users", {})
    check(not users.is_error, f"list_users failed: {users.content}")
    write = await refused(client, "create_user", {"name": "Eve", "email": "eve@example.com"})
    unknown = await refused(client, "no_such_tool", {})
    check(
        write.replace("create_user", "X") == unknown.replace("no_such_tool", "X"),
        f"a tool outside the endpoint must answer as an unknown one: {write!r} vs {unknown!r}",
    )
    return {"tools": names, "write_refused": write}


async def admin(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    names = [t.name for t in tools]
    check(names[:3] == ["search_tools", "describe_tool", "call_tool"], f"not the meta-tools: {names}")
    found = await client.call_tool("search_tools", {"query": "create a user", "limit": 5})
    check(not found.is_error, f"search_tools failed: {found.content}")
    hits = [t["name"] for t in found.structured_content["tools"]]
    check("create_user" in hits, f"search did not find create_user: {hits}")
    made = await client.call_tool(
        "call_tool", {"name": "create_user", "arguments": {"name": "Ada", "email": "ada@example.com"}}
    )
    check(not made.is_error, f"call_tool create_user failed: {made.content}")
    check(made.structured_content.get("email") == "ada@example.com", f"unexpected user {made.structured_content}")
    return {"listed": names, "search": hits}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--mode", default="auto")
    args = parser.parse_args()
    summary: dict[str, Any] = {}
    async with Client(f"{args.base}/mcp/readonly", mode=args.mode) as client:
        summary["readonly"] = await readonly(client)
        summary["protocol_version"] = str(client.protocol_version)
    async with Client(f"{args.base}/mcp/admin", mode=args.mode) as client:
        summary["admin"] = await admin(client)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
