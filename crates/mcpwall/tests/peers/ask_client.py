"""An MCP client (official Python SDK) that can be asked: it declares elicitation, approves
mcpwall's questions about `add` and declines the others, and prints what happened as JSON.

Usage: ask_client.py --http URL | ask_client.py COMMAND [args...]
"""

import asyncio
import json
import sys

from mcp import types
from mcp.client.session import ClientSession

from calls import call, connected

asked = []


async def on_elicit(context, params):
    asked.append(params.message)
    approve = "`add`" in params.message
    return types.ElicitResult(action="accept", content={"approve": approve})


async def run(read, write, out):
    async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
        await session.initialize()
        await session.list_tools()
        out["add"] = await call(session, "add", {"a": 2, "b": 3})
        out["add_again"] = await call(session, "add", {"a": 2, "b": 3})
        out["echo"] = await call(session, "echo", {"text": "hello"})
        out["asked"] = asked


async def main():
    out = {}
    await connected(sys.argv[1:], lambda read, write: run(read, write, out))
    print(json.dumps(out))


asyncio.run(main())
