"""Drives toolgate in front of `server-everything` (source `everything`, a 2025-11-25 upstream
that sends sampling and elicitation requests during its calls) with the official Python SDK
client speaking 2026-07-28, which takes no server requests: the gateway must answer with
`input_required` rounds (MRTR, SEP-2322) and complete the calls on the retries.

Checks: the SDK's automatic rounds complete a sampling and an elicitation call with this
client's answers; one round driven by hand has the expected shape (`inputRequests` under a
key, a sealed `requestState`); an altered `requestState` and a missing answer are refused with
JSON-RPC -32602 and a reason, without losing the waiting call, which the correct retry then
completes; a used state cannot be replayed.

With `--passthrough`, the upstream is instead `upstream_fake_server.py mrtr` (source `fake`), a
2026-07-28 server whose `ask_name` answers `input_required` itself: the round reaches this
client with the upstream's state sealed inside the gateway's, and the retry's answer and the
upstream's own state reach the upstream. Usage: upstream_mrtr_check.py URL [--passthrough].
Prints `ok` and exits 0 when every check holds."""
import asyncio
import sys

from mcp import Client
from mcp.shared.exceptions import MCPError
import mcp.types as types

from client_callbacks import Answers


async def passthrough(url: str) -> None:
    async def elicitation(context, params):
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace"})

    async with Client(url, mode="2026-07-28", elicitation_callback=elicitation) as c:
        r = await c.call_tool("fake_ask_name", {})
        assert not r.is_error and "hello Ada Lovelace" in str(r.content), r

        first = await c.session.call_tool("fake_ask_name", {}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        assert list(first.input_requests) == ["name"], first
        state = first.request_state
        assert state.startswith("tg1.") and "upstream-state-1" not in state, state
        answer = {"name": types.ElicitResult(action="accept", content={"name": "Grace Hopper"})}
        altered = state[:10] + ("x" if state[10] != "x" else "y") + state[11:]
        try:
            await c.session.call_tool(
                "fake_ask_name", {}, input_responses=answer, request_state=altered, allow_input_required=True
            )
        except MCPError as e:
            assert e.error.code == -32602 and "altered" in e.error.message, e.error
        else:
            raise AssertionError("an altered state was accepted")
        done = await c.session.call_tool(
            "fake_ask_name", {}, input_responses=answer, request_state=state, allow_input_required=True
        )
        assert isinstance(done, types.CallToolResult) and "hello Grace Hopper" in str(done.content), done

        # prompts/get takes rounds too.
        got = await c.get_prompt("fake_ask_topic")
        assert "write about Ada Lovelace (upstream-prompt-state)" in str(got.messages), got
    print("ok")


async def main(url: str) -> None:
    answers = Answers("sampled by the 2026 client")
    sampled, elicited = answers.sampled, answers.elicited

    async with Client(
        url,
        mode="2026-07-28",
        sampling_callback=answers.sampling,
        elicitation_callback=answers.elicitation,
    ) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        assert "everything_trigger-sampling-request" in names, names

        r = await c.call_tool("everything_echo", {"message": "hi"})
        assert not r.is_error and r.content[0].text == "Echo: hi", r

        # The SDK drives the rounds itself.
        r = await c.call_tool("everything_trigger-sampling-request", {"prompt": "hello", "maxTokens": 10})
        assert sampled, "the upstream's sampling request never reached this client"
        assert not r.is_error and "sampled by the 2026 client" in str(r.content), r

        r = await c.call_tool("everything_trigger-elicitation-request", {})
        assert elicited, "the upstream's elicitation request never reached this client"
        assert not r.is_error and "Ada Lovelace" in str(r.content), r

        # One round by hand.
        name = "everything_trigger-elicitation-request"
        first = await c.session.call_tool(name, {}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        assert list(first.input_requests) == ["elicitation"], first
        state = first.request_state
        assert state and state.startswith("tg1."), state
        answer = {"elicitation": types.ElicitResult(action="accept", content={"name": "Grace Hopper"})}

        altered = state[:10] + ("x" if state[10] != "x" else "y") + state[11:]
        for bad_state, responses, reason in [
            (altered, answer, "altered"),
            (state, {"other": answer["elicitation"]}, "no `elicitation`"),
        ]:
            try:
                await c.session.call_tool(
                    name, {}, input_responses=responses, request_state=bad_state, allow_input_required=True
                )
            except MCPError as e:
                assert e.error.code == -32602, e.error
                assert reason in e.error.message, e.error.message
            else:
                raise AssertionError(f"a retry with {reason} was accepted")

        done = await c.session.call_tool(
            name, {}, input_responses=answer, request_state=state, allow_input_required=True
        )
        assert isinstance(done, types.CallToolResult) and "Grace Hopper" in str(done.content), done
        try:
            await c.session.call_tool(
                name, {}, input_responses=answer, request_state=state, allow_input_required=True
            )
        except MCPError as e:
            assert e.error.code == -32602 and "no call waits" in e.error.message, e.error
        else:
            raise AssertionError("a used requestState was accepted again")
    print("ok")


if __name__ == "__main__":
    if "--passthrough" in sys.argv[2:]:
        asyncio.run(passthrough(sys.argv[1]))
    else:
        asyncio.run(main(sys.argv[1]))
