"""Connects the official MCP Python SDK client to an authenticating toolgate, OAuth included.

Usage:
    python auth_client_check.py --url URL --issuer ISSUER --client-id ID --client-secret SECRET
        [--scope "a b"] [--mode auto|legacy|2026-07-28] [--call TOOL --arguments JSON]

The SDK's own client-credentials provider does the whole dance a real client does: its first
request is refused with 401, it follows `WWW-Authenticate: Bearer resource_metadata=...` to
toolgate's RFC 9728 metadata, from there to the authorization server's metadata, gets a token
for toolgate's resource (RFC 8707 `resource`), and retries. Then it lists the tools and, with
`--call`, calls one. Prints a JSON summary on success; exits 1 with a message on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken


class MemoryStorage:
    """Tokens kept for this run only."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--scope")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--call")
    parser.add_argument("--arguments", default="{}")
    args = parser.parse_args()

    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        if response.request.url.path.endswith("/mcp"):
            statuses.append(response.status_code)

    provider = ClientCredentialsOAuthProvider(
        server_url=args.url,
        storage=MemoryStorage(),
        client_id=args.client_id,
        client_secret=args.client_secret,
        scope=args.scope,
        issuer=args.issuer,
    )
    http = httpx2.AsyncClient(auth=provider, event_hooks={"response": [record]}, timeout=30)
    summary: dict[str, Any] = {}
    async with http:
        async with Client(streamable_http_client(args.url, http_client=http), mode=args.mode) as client:
            tools = (await client.list_tools()).tools
            summary["tools"] = sorted(t.name for t in tools)
            summary["protocol_version"] = str(client.protocol_version)
            if args.call:
                result = await client.call_tool(args.call, json.loads(args.arguments))
                if result.is_error:
                    fail(f"{args.call} returned an error: {result.content}")
                summary["result"] = result.structured_content
    summary["statuses"] = statuses
    if 401 not in statuses:
        fail(f"the first request should have been refused with 401: {statuses}")
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
