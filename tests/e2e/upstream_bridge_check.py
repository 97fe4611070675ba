"""Drives toolgate in front of `upstream_fake_server.py mrtr` (source `fake`, a 2026-07-28
upstream whose tools answer `input_required` themselves) with the official Python SDK client
speaking 2025-11-25, which takes server requests but not `input_required`: the gateway must
ask this client the upstream's requests as real server requests and retry the upstream with
the answers.

Checks: `fake_ask_twice` takes two rounds (an elicitation, then a sampling request built from
the elicited name) and its result is built from both answers; `fake_ask_topic` (a prompt)
takes one; a client that refuses the sampling request gets an error naming the upstream, the
tool and its refusal; a client without the sampling capability gets an error naming the
capability. Usage: upstream_bridge_check.py URL, or upstream_bridge_check.py --stdio COMMAND
[ARGS...] (the gateway as this client's child process). Prints `ok` and exits 0 when every
check holds."""
import asyncio
import sys

from mcp import Client, StdioServerParameters
import mcp.types as types

from client_callbacks import Answers


def error_text(result) -> str:
    assert result.is_error, f"expected an error result, got {result}"
    return " ".join(getattr(c, "text", "") for c in result.content)


async def main(target) -> None:
    answers = Answers("a warm hello")
    async with Client(
        target,
        mode="legacy",
        sampling_callback=answers.sampling,
        elicitation_callback=answers.elicitation,
    ) as c:
        assert str(c.protocol_version) == "2025-11-25", c.protocol_version
        r = await c.call_tool("fake_ask_twice", {})
        assert not r.is_error, r
        assert r.content[0].text == "Ada Lovelace was greeted: a warm hello", r
        assert len(answers.elicited) == 1, answers.elicited
        assert len(answers.sampled) == 1, answers.sampled
        asked = answers.sampled[0].messages[0].content
        assert getattr(asked, "text", None) == "Greet Ada Lovelace", asked

        got = await c.get_prompt("fake_ask_topic")
        assert "write about Ada Lovelace (upstream-prompt-state)" in str(got.messages), got

    async def refuse(context, params):
        return types.ErrorData(code=-1, message="the user declined to sample")

    async with Client(
        target, mode="legacy", sampling_callback=refuse, elicitation_callback=answers.elicitation
    ) as c:
        text = error_text(await c.call_tool("fake_ask_twice", {}))
        for part in ["upstream `fake`", "tool `ask_twice`", "the client refused: the user declined to sample"]:
            assert part in text, text

    async with Client(target, mode="legacy", elicitation_callback=answers.elicitation) as c:
        text = error_text(await c.call_tool("fake_ask_twice", {}))
        for part in ["upstream `fake`", "tool `ask_twice`", "did not declare the `sampling` capability"]:
            assert part in text, text
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "--stdio":
        target = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:])
    else:
        target = sys.argv[1]
    asyncio.run(main(target))
