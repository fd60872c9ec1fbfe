"""What the test clients share: a tool call reported as JSON the Rust tests can check."""

from mcp.shared.exceptions import MCPError


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def call(session, name, args):
    """`{"ok", "text"}` for a result (ok false for a tool error), `{"ok", "code", "error"}` for
    a JSON-RPC error."""
    try:
        r = await session.call_tool(name, args)
        return {"ok": not r.is_error, "text": text_of(r)}
    except MCPError as e:
        return {"ok": False, "code": e.code, "error": e.message}


async def connected(argv, body):
    """Runs `body(read, write)` on a transport chosen by `argv`: `--http URL` (Streamable HTTP)
    or `COMMAND ARGS...` (stdio)."""
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if argv[0] == "--http":
        async with streamable_http_client(argv[1]) as (read, write):
            await body(read, write)
    else:
        params = StdioServerParameters(command=argv[0], args=argv[1:])
        async with stdio_client(params) as (read, write):
            await body(read, write)
