"""mcpwall fs against the reference npm filesystem server on the issue's targets: idle resident memory,
read_text_file of a 4 KB file (round trip over stdio, this driver's overhead included), and
directory_tree of 9,999 entries.

Usage: python3 scripts/bench_fs.py target/release/mcpwall target/peers/node/node_modules
"""
import json, os, subprocess, sys, time, statistics, tempfile
def session(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    n = [0]
    def req(method, params):
        n[0] += 1
        p.stdin.write((json.dumps({"jsonrpc":"2.0","id":n[0],"method":method,"params":params})+"\n").encode()); p.stdin.flush()
        while True:
            line = json.loads(p.stdout.readline())
            if line.get("id") == n[0]: return line
    req("initialize", {"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"b","version":"1"}})
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'); p.stdin.flush()
    return p, req
d = tempfile.mkdtemp()
root = os.path.join(d, "root"); os.makedirs(root)
open(os.path.join(root, "f4k.txt"), "w").write("x" * 4095 + "\n")
tree = os.path.join(root, "tree")
for i in range(99):
    os.makedirs(os.path.join(tree, f"d{i}"))
    for j in range(100):
        open(os.path.join(tree, f"d{i}", f"f{j}.txt"), "w").close()
mcpwall = sys.argv[1]; nodemods = sys.argv[2]
servers = {
  "mcpwall fs": [mcpwall, "fs", "--root", root],
  "npm server-filesystem": ["node", os.path.join(nodemods, "@modelcontextprotocol/server-filesystem/dist/index.js"), root],
}
for name, cmd in servers.items():
    p, req = session(cmd)
    time.sleep(0.5)
    rss = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]
    xs = []
    for _ in range(90):
        a = time.perf_counter(); r = req("tools/call", {"name":"read_text_file","arguments":{"path": os.path.join(root,"f4k.txt")}}); xs.append(time.perf_counter()-a)
        assert not r["result"].get("isError"), r
    a = time.perf_counter(); r = req("tools/call", {"name":"directory_tree","arguments":{"path": tree}}); t = time.perf_counter()-a
    text = r["result"]["content"][0]["text"]
    print(f"{name:22} idle RSS {int(rss)/1024:.1f} MB; read_text_file 4 KB median {statistics.median(xs)*1e6:.0f} µs p90 {sorted(xs)[80]*1e6:.0f} µs; directory_tree 9,999 entries {t*1e3:.1f} ms ({len(text)} bytes{', truncated' if 'truncated' in text else ''})")
    p.kill()

import shutil
shutil.rmtree(d)
