"""A FastAPI app under uvicorn whose `/boom` raises an unhandled exception.

Starlette's ServerErrorMiddleware answers such a request with a plain 500 (no
`Connection: close`) and re-raises; uvicorn then closes the connection because the response
had started. A client that pooled the connection learns of it only when it next uses it.

Usage: python uvicorn_app.py [h11|httptools]. Listens on 127.0.0.1 on a free port and
prints the port on the first line of stdout.
"""

import socket
import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/boom")
def boom():
    raise RuntimeError("unhandled on purpose")


@app.get("/items")
def read_items():
    return {"read": True}


@app.post("/items")
def create_item():
    return {"created": True}


if __name__ == "__main__":
    http = sys.argv[1] if len(sys.argv) > 1 else "h11"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, http=http, log_level="error", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
