"""Small misbehaving MCP servers (official Python SDK, stdio) for toolgate's upstream fault
tests. Usage: upstream_fake_server.py MODE, where MODE is

- `well`:    `echo` only (a healthy neighbour);
- `hang`:    `echo`, and `wait`, which never answers;
- `garbage`: `echo`; `noisy` writes lines that are not JSON-RPC on stdout, then answers;
             `garble` answers its call with a broken JSON-RPC line and nothing else;
- `huge`:    `echo`, and `huge(size)`, which answers `size` bytes of text;
- `dynamic`: `echo`, and `grow(name)`, which adds a tool `name` and sends
             `notifications/tools/list_changed`;
- `names`:   tools whose names are invalid, too long, or collide with another server's;
- `crash`:   exits at once with status 3 (a crash loop);
- `mrtr PORT`: over streamable HTTP on 127.0.0.1:PORT (2026-07-28 capable): `echo`, and
             `ask_name`, which answers `input_required` itself (an elicitation under key
             `name`, requestState `upstream-state-1`) and, on the retry with that state and
             an answer, greets the name; `ask_twice`, which takes two rounds: an
             elicitation (key `who`, state `twice-1`), then a sampling request built from
             the elicited name (key `greeting`, state `twice-2:<name>`), and answers with
             both; and the prompt `ask_topic`, which asks like `ask_name` under key `topic`.
"""
import os
import sys

from mcp.server.mcpserver import Context, MCPServer

mode = sys.argv[1]
if mode == "crash":
    print("crashing on purpose", file=sys.stderr)
    sys.exit(3)

server = MCPServer(f"fake-{mode}")


@server.tool()
def echo(message: str) -> str:
    """Echoes the message."""
    return f"{mode}: {message}"


if mode == "hang":

    @server.tool()
    async def wait() -> str:
        """Never answers."""
        import anyio

        await anyio.sleep_forever()
        return "unreachable"

elif mode == "garbage":

    @server.tool()
    def noisy() -> str:
        """Prints junk on stdout, then answers."""
        os.write(1, b"this is a log line on stdout\n{not json either\n")
        return "answered after the noise"

    @server.tool()
    async def garble(ctx: Context) -> str:
        """Answers with a broken JSON-RPC message (and never properly)."""
        import anyio

        rid = ctx.request_context.request_id
        os.write(1, b'{"jsonrpc":"2.0","id":' + str(rid).encode() + b',"result":{"content":[\n')
        os.write(1, b'{"jsonrpc":"2.0","id":' + str(rid).encode() + b',"result":"not an object"}\n')
        await anyio.sleep_forever()
        return "unreachable"

elif mode == "huge":

    @server.tool()
    def huge(size: int) -> str:
        """Answers `size` bytes of text."""
        return "x" * size

elif mode == "dynamic":

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Adds a tool `name` and tells the client."""

        def added() -> str:
            return f"{name} was added at run time"

        server.add_tool(added, name=name, description="added at run time")
        await ctx.session.send_tool_list_changed()
        return f"added {name}"

elif mode == "names":

    def make(text: str):
        def tool() -> str:
            return text

        return tool

    server.add_tool(make("from names"), name="search", description="collides with the other server")
    server.add_tool(make("bad"), name="bad name!", description="invalid characters")
    server.add_tool(make("long"), name="l" * 80, description="longer than 64")
    server.add_tool(make("nothing"), name="!!!", description="no usable character")

elif mode == "mrtr":
    from mcp_types import (
        CreateMessageRequest,
        CreateMessageRequestParams,
        ElicitRequest,
        ElicitRequestFormParams,
        InputRequiredResult,
        SamplingMessage,
        TextContent,
    )

    def field(answer, name):
        """A field of an answer, whether the SDK gives it as a dict or a model."""
        return answer.get(name) if isinstance(answer, dict) else getattr(answer, name, None)

    @server.tool()
    async def ask_name(ctx: Context) -> str | InputRequiredResult:
        """Asks the client for a name (2026-07-28 input_required), then greets it."""
        answer = (ctx.input_responses or {}).get("name")
        if answer is None:
            return InputRequiredResult(
                input_requests={
                    "name": ElicitRequest(
                        params=ElicitRequestFormParams(
                            message="Your name?",
                            requested_schema={
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            },
                        )
                    )
                },
                request_state="upstream-state-1",
            )
        if ctx.request_state != "upstream-state-1":
            return f"wrong state: {ctx.request_state!r}"
        content = answer.get("content") if isinstance(answer, dict) else getattr(answer, "content", None)
        return f"hello {(content or {}).get('name')}"

    @server.tool()
    async def ask_twice(ctx: Context) -> str | InputRequiredResult:
        """Asks for a name (elicitation), then for a greeting of it (sampling); answers with both."""
        responses = ctx.input_responses or {}
        state = ctx.request_state
        if not responses:
            return InputRequiredResult(
                input_requests={
                    "who": ElicitRequest(
                        params=ElicitRequestFormParams(
                            message="Who should be greeted?",
                            requested_schema={
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            },
                        )
                    )
                },
                request_state="twice-1",
            )
        if "who" in responses and state == "twice-1":
            name = (field(responses["who"], "content") or {}).get("name")
            return InputRequiredResult(
                input_requests={
                    "greeting": CreateMessageRequest(
                        params=CreateMessageRequestParams(
                            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"Greet {name}"))],
                            max_tokens=50,
                        )
                    )
                },
                request_state=f"twice-2:{name}",
            )
        if "greeting" in responses and (state or "").startswith("twice-2:"):
            text = field(field(responses["greeting"], "content"), "text")
            return f"{state[len('twice-2:'):]} was greeted: {text}"
        return f"unexpected retry: state {state!r}, answers {sorted(responses)}"

    @server.prompt()
    async def ask_topic(ctx: Context) -> str | InputRequiredResult:
        """Asks the client for a topic (2026-07-28 input_required), then renders a prompt."""
        answer = (ctx.input_responses or {}).get("topic")
        if answer is None:
            return InputRequiredResult(
                input_requests={
                    "topic": ElicitRequest(
                        params=ElicitRequestFormParams(
                            message="Which topic?",
                            requested_schema={
                                "type": "object",
                                "properties": {"name": {"type": "string"}},
                                "required": ["name"],
                            },
                        )
                    )
                },
                request_state="upstream-prompt-state",
            )
        content = answer.get("content") if isinstance(answer, dict) else getattr(answer, "content", None)
        return f"write about {(content or {}).get('name')} ({ctx.request_state})"

    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    sys.exit(0)

server.run()
