"""An MCP client (official Python SDK) that can be asked: it declares elicitation, approves
mcpwall's questions about `add` and declines the others, and prints what happened as JSON.

Usage: ask_client.py --http URL | ask_client.py COMMAND [args...]
       ask_client.py --modern COMMAND [args...]   (the SDK's `Client`, protocol 2026-07-28: it
                                                  is asked in the call's result instead)
       ask_client.py --modern-http URL            (the same, with `mcpwall serve`, no session)
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


async def modern(argv, out):
    from mcp.client.client import Client
    from mcp.client.stdio import StdioServerParameters

    if argv[0] == "--http":
        params = argv[1]
    else:
        params = StdioServerParameters(command=argv[0], args=argv[1:])
    async with Client(params, elicitation_callback=on_elicit) as client:
        out["version"] = client.protocol_version
        await client.list_tools()
        out["add"] = await call(client, "add", {"a": 2, "b": 3})
        out["add_again"] = await call(client, "add", {"a": 2, "b": 3})
        out["echo"] = await call(client, "echo", {"text": "hello"})
        out["asked"] = asked


async def main():
    out = {}
    if sys.argv[1] == "--modern":
        await modern(sys.argv[2:], out)
    elif sys.argv[1] == "--modern-http":
        await modern(["--http", sys.argv[2]], out)
    else:
        await connected(sys.argv[1:], lambda read, write: run(read, write, out))
    print(json.dumps(out))


asyncio.run(main())
