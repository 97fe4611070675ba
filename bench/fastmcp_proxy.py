#!/usr/bin/env python3
"""FastMCP 4.1.6's proxy (`create_proxy`, formerly `FastMCP.as_proxy`) in front of one MCP
server, for the upstream benchmark (issue 17): the same upstream as toolgate's.

    fastmcp_proxy.py --upstream URL --http HOST:PORT   # stateless, JSON answers
"""

import argparse

from fastmcp.server import create_proxy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--upstream", required=True, help="the upstream's streamable HTTP URL")
    p.add_argument("--http", metavar="HOST:PORT", required=True)
    args = p.parse_args()
    proxy = create_proxy(args.upstream, name="bench-proxy")
    host, port = args.http.rsplit(":", 1)
    proxy.run(
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
