"""A Streamable HTTP MCP server, on raw JSON-RPC, that writes each message's `id` last, as the
TypeScript SDK orders its keys (`{"result":...,"jsonrpc":"2.0","id":1}`).

`id_last_server.py PORT`: serves `/mcp`. Tools: `big_json` answers with `size` letters in one
JSON body, `big_sse` the same as an SSE event; `small` answers "ok". A gateway with a size cap
under `size` must fail such a call at once, reading its id from the message's end. `big_first`
writes its id first, then trickles the rest of a body too large for the cap for 30 s. `mute`
opens an event stream and never answers, only sends keep-alive comments; `id_last_server.py
PORT DIR` writes DIR/mute-closed when the client closes that stream.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS = [
    {
        "name": name,
        "description": "Answer with some letters.",
        "inputSchema": {"type": "object", "properties": {"size": {"type": "integer"}}},
    }
    for name in ("big_json", "big_sse", "big_first", "small", "mute")
]


def answer(rid, result):
    # Key order is what this server is for: the id comes last.
    return json.dumps({"result": result, "jsonrpc": "2.0", "id": rid})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Mcp-Session-Id", "id-last")
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, rid):
        # The id first, then a body that takes its time: a gateway that has the id from the
        # first bytes need not wait for the end.
        head = ('{"jsonrpc":"2.0","id":' + json.dumps(rid) + ',"result":{"content":[').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + 10_000_000))
        self.end_headers()
        self.wfile.write(head + b" " * 8192)
        try:
            for _ in range(300):
                time.sleep(0.1)
                self.wfile.write(b" " * 100)
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def mute(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            while True:
                self.wfile.write(b": still thinking\n\n")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            if len(sys.argv) > 2:
                open(f"{sys.argv[2]}/mute-closed", "w").close()
        self.close_connection = True

    def do_GET(self):
        self.reply(405)

    def do_DELETE(self):
        self.reply(200)

    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        method, rid = msg.get("method"), msg.get("id")
        if rid is None:
            self.reply(202)
            return
        sse = False
        if method == "initialize":
            result = {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "id-last", "version": "1"},
            }
        elif method == "tools/list":
            result = {"tools": TOOLS}
        elif method == "tools/call" and msg["params"]["name"] == "big_first":
            self.trickle(rid)
            return
        elif method == "tools/call" and msg["params"]["name"] == "mute":
            self.mute()
            return
        elif method == "tools/call":
            name = msg["params"]["name"]
            size = msg["params"].get("arguments", {}).get("size", 2)
            text = "ok" if name == "small" else "x" * size
            result = {"content": [{"type": "text", "text": text}]}
            sse = name == "big_sse"
        elif method == "ping":
            result = {}
        else:
            body = {"error": {"code": -32601, "message": "no such method"}, "jsonrpc": "2.0"}
            self.reply(200, json.dumps({**body, "id": rid}).encode())
            return
        body = answer(rid, result)
        if sse:
            self.reply(200, f"data: {body}\n\n".encode(), "text/event-stream")
        else:
            self.reply(200, body.encode())


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
