"""Client-side answers to an upstream's server requests, shared by the upstream checks
(upstream_client_check.py, upstream_mrtr_check.py): a sampling callback that answers with a
fixed text and an elicitation callback that accepts with `name: Ada Lovelace`, each keeping
what it was asked, so a check can assert the request reached this client."""
import mcp.types as types


class Answers:
    """The callbacks to pass to `mcp.Client`, and what they were asked."""

    def __init__(self, sampled_text: str) -> None:
        self.sampled_text = sampled_text
        self.sampled = []
        self.elicited = []

    async def elicitation(self, context, params):
        self.elicited.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace"})

    async def sampling(self, context, params):
        self.sampled.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=self.sampled_text),
            model="test-model",
            stop_reason="endTurn",
        )
