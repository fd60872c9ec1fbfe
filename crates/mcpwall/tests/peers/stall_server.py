"""A stdio MCP server on raw JSON-RPC that stops reading its input for a while, so that a
frame written to it fills the pipe and its writer must wait: a test that a client leaving
mid-write does not leave half a frame in the server's input, glued to the next one.

Tools:
- freeze(seconds): answers at once, then reads nothing for that long;
- size(text): the length of `text`;
- echo(text): `text` back.

A line that is not JSON is counted; `echo` of the text "garbled?" answers with that count.
"""

import json
import sys
import time

TOOLS = [
    {"name": "freeze", "description": "Stop reading for a while.",
     "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}}},
    {"name": "size", "description": "The length of a text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "echo", "description": "Echo a text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text(rid, value):
    send({"jsonrpc": "2.0", "id": rid,
          "result": {"content": [{"type": "text", "text": value}]}})


def main():
    garbled = 0
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            garbled += 1
            continue
        method, rid = msg.get("method"), msg.get("id")
        params = msg.get("params") or {}
        if rid is None:
            continue
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "stall", "version": "1"},
            }})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
        elif method == "tools/call":
            name = params.get("name")
            args = params.get("arguments") or {}
            if name == "freeze":
                text(rid, "frozen")
                time.sleep(float(args.get("seconds", 1)))
            elif name == "size":
                text(rid, str(len(args.get("text", ""))))
            elif args.get("text") == "garbled?":
                text(rid, f"garbled lines: {garbled}")
            else:
                text(rid, str(args.get("text", "")))
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
        else:
            send({"jsonrpc": "2.0", "id": rid,
                  "error": {"code": -32601, "message": "Method not found"}})


if __name__ == "__main__":
    main()
