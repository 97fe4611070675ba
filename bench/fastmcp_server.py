#!/usr/bin/env python3
"""FastMCP 4.1.6 `from_openapi` over an OpenAPI document, for the benchmarks.

    fastmcp_server.py --spec FILE|URL --base-url URL --http HOST:PORT   # stateless, JSON answers
    fastmcp_server.py --spec FILE|URL --base-url URL --stdio

Every call goes to --base-url through one httpx2 client, as FastMCP's docs recommend.
"""

import argparse
import json
import urllib.request

import httpx2
from fastmcp import FastMCP


def load_spec(where: str) -> dict:
    if where.startswith(("http://", "https://")):
        with urllib.request.urlopen(where) as resp:
            return json.load(resp)
    with open(where, encoding="utf-8") as f:
        return json.load(f)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--spec", required=True)
    p.add_argument("--base-url", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--http", metavar="HOST:PORT")
    target.add_argument("--stdio", action="store_true")
    args = p.parse_args()

    client = httpx2.AsyncClient(base_url=args.base_url, timeout=30)
    mcp = FastMCP.from_openapi(openapi_spec=load_spec(args.spec), client=client, name="bench")
    if args.stdio:
        mcp.run(transport="stdio", show_banner=False)
    else:
        host, port = args.http.rsplit(":", 1)
        mcp.run(
            transport="http",
            host=host,
            port=int(port),
            path="/mcp",
            stateless_http=True,
            json_response=True,
            show_banner=False,
            log_level="warning",
        )


if __name__ == "__main__":
    main()
