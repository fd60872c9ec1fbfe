"""A session with a filesystem MCP server through the official Python SDK client.

Usage: fs_client.py ROOT -- SERVER_COMMAND [args...]
Prints JSON: the tool names listed, and the result of a few calls on files the Rust test made
under ROOT (sub/ok.txt readable; link_abs a symlink to a file outside).
"""

import asyncio
import json
import sys

from mcp import ClientSession

from calls import call, connected


async def main():
    root = sys.argv[1]
    argv = sys.argv[sys.argv.index("--") + 1 :]
    out = {}

    async def body(read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["ok"] = await call(session, "read_text_file", {"path": f"{root}/sub/ok.txt"})
            out["link"] = await call(session, "read_text_file", {"path": f"{root}/link_abs"})
            out["list"] = await call(session, "list_directory", {"path": root})
            out["roots"] = await call(session, "list_allowed_directories", {})

    await connected(argv, body)
    print(json.dumps(out))


asyncio.run(main())
