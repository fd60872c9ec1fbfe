"""An MCP client (official Python SDK) that can be asked: it declares elicitation, approves
mcpwall's questions about `add` and declines the others, and prints what happened as JSON.

Usage: ask_client.py --http URL | ask_client.py COMMAND [args...]
"""

import asyncio
import json
import sys

from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

asked = []


async def on_elicit(context, params):
    asked.append(params.message)
    approve = "`add`" in params.message
    return types.ElicitResult(action="accept", content={"approve": approve})


async def call(session, name, args):
    try:
        r = await session.call_tool(name, args)
        return {"ok": not r.is_error, "text": "".join(getattr(c, "text", "") for c in r.content)}
    except MCPError as e:
        return {"ok": False, "code": e.code, "error": e.message}


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
    if sys.argv[1] == "--http":
        async with streamable_http_client(sys.argv[2]) as (read, write):
            await run(read, write, out)
    else:
        params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
        async with stdio_client(params) as (read, write):
            await run(read, write, out)
    print(json.dumps(out))


asyncio.run(main())
