"""Drives a toolgate gateway in meta-tool mode with the official MCP Python SDK client.

Usage:
    python mcp_meta_tools_check.py --http URL [--mode auto|legacy|2026-07-28]
    python mcp_meta_tools_check.py --stdio COMMAND [ARGS...]

The gateway serves GitHub's REST API (1,223 operations) behind the meta-tools, in front of a
stand-in backend that echoes each request. The client lists the tools (the three meta-tools
and the pinned ones, not 1,223), searches for the operation that comments on an issue,
describes it, and calls it through `call_tool`; the backend's echo proves the real
operation ran. Prints a JSON summary on success; exits 1 with a message on any mismatch.
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
    return result.structured_content


async def scenario(client: Client) -> dict[str, Any]:
    tools = (await client.list_tools()).tools
    names = [t.name for t in tools]
    check(names[:3] == ["search_tools", "describe_tool", "call_tool"], f"not the meta-tools: {names}")
    check(len(names) < 10, f"meta-tool mode should list a handful of tools, got {len(names)}")
    dumped = [t.model_dump(by_alias=True, exclude_none=True) for t in tools]
    listing_bytes = len(json.dumps(dumped))
    meta_tools_bytes = len(json.dumps(dumped[:3]))

    found = await call(client, "search_tools", {"query": "add a comment to an issue", "limit": 5})
    hits = [t["name"] for t in found["tools"]]
    check("issues_create_comment" in hits, f"search did not find issues_create_comment: {found}")
    first = found["tools"][0]
    check(bool(first.get("summary")) and bool(first.get("matched")), f"a match says what and why: {first}")

    described = await call(client, "describe_tool", {"names": ["issues_create_comment"]})
    schema = described["tools"][0]["inputSchema"]
    for want in ("owner", "repo", "issue_number"):
        check(want in schema.get("properties", {}), f"describe_tool schema lacks {want}: {schema}")

    result = await client.call_tool(
        "call_tool",
        {
            "name": "issues_create_comment",
            "arguments": {"owner": "octo", "repo": "hello", "issue_number": 7, "body": "Looks good"},
        },
    )
    check(not result.is_error, f"call_tool failed: {result.content}")
    echo = result.structured_content
    check(echo is not None, f"call_tool returned no structuredContent: {result.content}")
    check(echo.get("method") == "POST", f"the backend saw {echo}")
    check(echo.get("path") == "/repos/octo/hello/issues/7/comments", f"the backend saw {echo}")

    bad = await client.call_tool("call_tool", {"name": "issues_create_comment", "arguments": {"owner": "octo"}})
    check(bool(bad.is_error), "missing required arguments must be a tool error, as in a direct call")

    return {
        "protocol_version": str(client.protocol_version),
        "listed": names,
        "listing_bytes": listing_bytes,
        "meta_tools_bytes": meta_tools_bytes,
        "search": hits,
        "backend_saw": echo,
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
