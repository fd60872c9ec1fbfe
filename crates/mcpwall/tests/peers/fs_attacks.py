"""Attacks on a filesystem MCP server, through the official Python SDK client.

Usage: fs_attacks.py TOP -- SERVER_COMMAND [args...]
TOP is the attack cases' fixture (TOP/root served, TOP/outside and TOP/root_evil beside it).
Prints JSON: for each attack, {"ok", "text", "code"} (code: the refusal's
structuredContent.error, or the JSON-RPC error code). The Rust test judges what leaked and what
changed on disk; this script only tries.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from calls import text_of


def attacks(top):
    root = f"{top}/root"
    return [
        # A1, A3: a sibling whose name starts with the root's (CVE-2025-53110).
        ("prefix_read", "read_text_file", {"path": f"{top}/root_evil/x.txt"}),
        ("prefix_list", "list_directory", {"path": f"{top}/root_evil"}),
        # B1, B2, B4: symlinks out of the root (CVE-2025-53109).
        ("link_abs", "read_text_file", {"path": f"{root}/link_abs"}),
        ("link_rel", "read_text_file", {"path": f"{root}/link_rel"}),
        ("link_dir", "read_text_file", {"path": f"{root}/link_dir/secret.txt"}),
        # A magic link of /proc that leads back to the file system's root.
        ("procroot", "read_text_file", {"path": f"{root}/procroot"}),
        # C1: a hard link made (outside any sandbox) to a file outside.
        ("hard", "read_text_file", {"path": f"{root}/hard"}),
        # A2, B5, B6: writes through the same doors.
        ("write_prefix", "write_file", {"path": f"{top}/root_evil/pwn.txt", "content": "PWNED"}),
        ("write_link", "write_file", {"path": f"{root}/link_abs", "content": "OVERWRITTEN"}),
        ("write_dangling", "write_file", {"path": f"{root}/dangling", "content": "CREATED"}),
        # The control: what the server is for still works.
        ("inside", "read_text_file", {"path": f"{root}/sub/ok.txt"}),
    ]


async def main():
    top = sys.argv[1]
    argv = sys.argv[sys.argv.index("--") + 1 :]
    out = {}
    # The whole environment: the SDK passes on only a few variables by default.
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for name, tool, args in attacks(top):
                try:
                    r = await session.call_tool(tool, args)
                    code = (r.structured_content or {}).get("error") if r.is_error else None
                    out[name] = {"ok": not r.is_error, "text": text_of(r), "code": code}
                except MCPError as e:
                    out[name] = {"ok": False, "text": e.message, "code": e.code}
    print(json.dumps(out))


asyncio.run(main())
