"""Drives toolgate in front of the reference MCP server `server-everything` (an upstream, source
`everything`, over stdio or streamable HTTP) with the official Python SDK client, and checks
what passes through: namespaced tools, a call, progress, sampling and elicitation routed back
to this client, resources, prompts. With `--time`, also the PyPI server `mcp-server-time`
(source `time`). Usage: upstream_client_check.py URL [--time]. Prints `ok` and exits 0 when
every check holds."""
import asyncio
import sys

from mcp import Client

from client_callbacks import Answers


async def main(url: str, time: bool) -> None:
    answers = Answers("sampled by the test client")
    sampled, elicited = answers.sampled, answers.elicited

    async with Client(
        url,
        mode="legacy",
        sampling_callback=answers.sampling,
        elicitation_callback=answers.elicitation,
    ) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        assert "everything_echo" in names, names
        assert all(n.startswith(("everything_", "time_")) for n in names), names

        r = await c.call_tool("everything_echo", {"message": "hi"})
        assert not r.is_error and r.content[0].text == "Echo: hi", r

        progress = []

        async def on_progress(p, total, message):
            progress.append(p)

        r = await c.call_tool(
            "everything_trigger-long-running-operation",
            {"duration": 1, "steps": 3},
            progress_callback=on_progress,
        )
        assert not r.is_error, r
        assert len(progress) >= 3, f"progress through the gateway: {progress}"

        r = await c.call_tool("everything_trigger-sampling-request", {"prompt": "hello", "maxTokens": 10})
        assert sampled, "the upstream's sampling request never reached this client"
        assert "sampled by the test client" in str(r.content), r

        r = await c.call_tool("everything_trigger-elicitation-request", {})
        assert elicited, "the upstream's elicitation request never reached this client"
        assert "Ada Lovelace" in str(r.content), r

        resources = (await c.list_resources()).resources
        assert resources and all(x.uri.startswith("everything+") for x in resources), resources
        read = await c.read_resource(resources[0].uri)
        assert read.contents[0].uri == resources[0].uri, read

        prompts = [p.name for p in (await c.list_prompts()).prompts]
        assert "everything_simple-prompt" in prompts, prompts
        got = await c.get_prompt("everything_simple-prompt")
        assert got.messages, got

        if time:
            assert "time_get_current_time" in names, names
            r = await c.call_tool(
                "time_convert_time",
                {"source_timezone": "Europe/Paris", "time": "12:00", "target_timezone": "Asia/Tokyo"},
            )
            assert not r.is_error and "Asia/Tokyo" in r.content[0].text, r
    print("ok")


asyncio.run(main(sys.argv[1], "--time" in sys.argv[2:]))
