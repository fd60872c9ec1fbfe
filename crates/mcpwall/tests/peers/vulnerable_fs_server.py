"""A deliberately vulnerable filesystem MCP server: the mistakes mcpwall fs exists to avoid.

FOR TESTS ONLY. Never install, publish or run it on data that matters: it reads and writes
outside its root. It refuses to start unless MCPWALL_VULNERABLE_FS_SERVER is set to
`tests-only` (the test suite sets it).

Usage: vulnerable_fs_server.py --root DIR

Its flaws, each one a published CVE or a leak of the reference server:
- a path is "inside" when its text starts with the root's text: DIR_evil passes for DIR
  (CVE-2025-53110);
- symlinks are followed wherever they point (CVE-2025-53109), at read and at write;
- hard links, /proc magic links and any file type are read like regular files;
- relative paths are resolved against the process's working directory.
The tests run it unconfined (it leaks: the tests can see a leak) and in `mcpwall sandbox`
(the kernel stops it), next to `mcpwall fs` both ways.
"""

import os
import sys

if os.environ.get("MCPWALL_VULNERABLE_FS_SERVER") != "tests-only":
    sys.exit("vulnerable_fs_server.py is a test fixture that leaks files; it runs only in mcpwall's tests")

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

ROOT = os.path.abspath(sys.argv[sys.argv.index("--root") + 1])
server = MCPServer("vulnerable-fs")


def allowed(path):
    # The flaw: a string prefix, on a path whose symlinks are never resolved.
    full = os.path.abspath(path)
    if not full.startswith(ROOT):
        raise ToolError("Access denied - path outside allowed directories")
    return full


def io(f):
    """The operating system's refusals (a sandbox's) as the tool's error text."""
    try:
        return f()
    except OSError as e:
        raise ToolError(str(e)) from e


@server.tool()
def read_text_file(path: str) -> str:
    """Read a file."""
    def read():
        with open(allowed(path), encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)

    return io(read)


@server.tool()
def write_file(path: str, content: str) -> str:
    """Write a file."""
    def write():
        with open(allowed(path), "w", encoding="utf-8") as f:
            f.write(content)

    io(write)
    return f"Successfully wrote to {path}"


@server.tool()
def list_directory(path: str) -> str:
    """List a directory."""
    return "\n".join(sorted(io(lambda: os.listdir(allowed(path)))))


if __name__ == "__main__":
    server.run()
