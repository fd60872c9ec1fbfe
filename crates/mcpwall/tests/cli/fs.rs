//! `mcpwall fs` against the attack cases of ../shared/security/fs-attack-cases.md (the ones of
//! a read-only server) and more, driven over stdio as a client would; and through the official
//! Python SDK client, directly and behind `mcpwall run`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::gateway::{peers, python};

/// The fixture `F` of the attack cases, in a fresh temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = dir.path();
        let p = |s: &str| t.join(s);
        for d in ["root/sub", "root_evil", "outside", "root/.git/hooks"] {
            std::fs::create_dir_all(p(d)).expect("mkdir");
        }
        std::fs::write(p("root/sub/ok.txt"), "ok\n").expect("write");
        std::fs::write(p("root_evil/x.txt"), "EVILSIBLING\n").expect("write");
        std::fs::write(p("outside/secret.txt"), "TOPSECRET\n").expect("write");
        std::fs::write(p("root/.git/config"), "[core]\n").expect("write");
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, p(name)).expect("symlink");
        };
        link(&p("outside/secret.txt"), "root/link_abs");
        link(Path::new("../outside/secret.txt"), "root/link_rel");
        link(&p("outside"), "root/link_dir");
        link(&p("outside/created.txt"), "root/dangling");
        let procroot = format!("/proc/self/root{}", p("outside/secret.txt").display());
        link(Path::new(&procroot), "root/procroot");
        link(Path::new("/proc/self/cwd"), "root/cwdlink");
        link(Path::new("loop"), "root/loop");
        link(Path::new("/dev/zero"), "root/zero");
        link(Path::new("sub/ok.txt"), "root/inner_link");
        std::fs::hard_link(p("outside/secret.txt"), p("root/hard")).expect("hard link");
        let fifo = Command::new("mkfifo")
            .arg(p("root/pipe"))
            .status()
            .expect("mkfifo");
        assert!(fifo.success());
        // A sparse 300 MB file.
        let big = std::fs::File::create(p("root/big.bin")).expect("create");
        big.set_len(300 << 20).expect("truncate");
        // A name that is not UTF-8.
        let bad = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"bad\xff");
        std::fs::write(p("root").join(bad), "x").expect("write");
        Fixture { dir }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// What lies outside the root, to check that nothing there changed.
    fn outside(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for d in ["outside", "root_evil"] {
            for e in std::fs::read_dir(self.dir.path().join(d))
                .expect("read_dir")
                .flatten()
            {
                out.push((e.path(), std::fs::read(e.path()).unwrap_or_default()));
            }
        }
        out.sort();
        out
    }
}

/// A session with `mcpwall fs`, its working directory the fixture's top (so that `../`
/// relative to it would reach `outside`).
struct Server {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next: u64,
    /// The fixture's directory: no refusal may name it.
    top: String,
}

impl Server {
    fn start(f: &Fixture, extra: &[&str]) -> Server {
        Server::start_with(f, extra, json!({}))
    }

    /// [`Server::start`], the client declaring `capabilities`.
    fn start_with(f: &Fixture, extra: &[&str], capabilities: Value) -> Server {
        Server::start_at(f, &f.root(), extra, capabilities)
    }

    /// [`Server::start_with`], serving `root`.
    fn start_at(f: &Fixture, root: &Path, extra: &[&str], capabilities: Value) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
            .args(["fs", "--root"])
            .arg(root)
            .args(extra)
            .current_dir(f.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mcpwall fs starts");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut s = Server {
            child,
            input,
            output,
            next: 0,
            top: f.dir.path().display().to_string(),
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18",
            "capabilities": capabilities, "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "mcpwall-fs", "{init}");
        s
    }

    fn send(&mut self, line: &str) -> Value {
        self.tell(line);
        self.receive()
    }

    /// A line to the server, nothing awaited.
    fn tell(&mut self, line: &str) {
        writeln!(self.input, "{line}").expect("write");
        self.input.flush().expect("flush");
    }

    /// The server's next line.
    fn receive(&mut self) -> Value {
        let mut reply = String::new();
        self.output.read_line(&mut reply).expect("read");
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        self.send(&msg.to_string())
    }

    /// The names `tools/list` offers.
    fn tool_names(&mut self) -> Vec<String> {
        let t = self.request("tools/list", json!({}));
        t["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// A tool call: `Ok(text)`, or `Err(code)` for a refusal (whose message must not name a
    /// host path the client did not give).
    fn call(&mut self, tool: &str, args: Value) -> Result<String, String> {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        let result = &r["result"];
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if result["isError"] == true {
            let code = result["structuredContent"]["error"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            // A refusal names no host path: not even the one the client gave.
            assert!(
                !text.contains(&self.top) && !text.contains("/etc"),
                "{text}"
            );
            Err(code)
        } else {
            Ok(text)
        }
    }

    fn read(&mut self, path: &str) -> Result<String, String> {
        self.call("read_text_file", json!({ "path": path }))
    }
}

impl Server {
    /// The audit lines on standard error so far (the server is stopped to read them).
    fn audit_lines(&mut self) -> Vec<Value> {
        use std::io::Read as _;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn err(code: &str) -> Result<String, String> {
    Err(code.to_owned())
}

#[test]
fn paths_are_judged_as_text_then_resolved_beneath_the_root() {
    let f = Fixture::new();
    let before = f.outside();
    let mut s = Server::start(&f, &[]);
    // A: lexical and prefix.
    assert_eq!(s.read(&f.path("root/sub/ok.txt")), Ok("ok\n".into()));
    assert_eq!(s.read("sub/ok.txt"), Ok("ok\n".into()));
    assert_eq!(
        s.read(&f.path("root_evil/x.txt")),
        err("outside_root"),
        "A1"
    );
    assert_eq!(
        s.call("list_directory", json!({"path": f.path("root_evil")})),
        err("outside_root"),
        "A3"
    );
    assert_eq!(
        s.call("directory_tree", json!({"path": f.path("root_evil")})),
        err("outside_root"),
        "A4"
    );
    assert_eq!(
        s.read(&f.path("root/../outside/secret.txt")),
        err("dotdot"),
        "A6"
    );
    assert_eq!(s.read("../outside/secret.txt"), err("dotdot"), "A7");
    assert_eq!(s.read("sub/../sub/ok.txt"), err("dotdot"), "A8");
    assert_eq!(s.read("/etc/passwd"), err("outside_root"), "A9");
    assert_eq!(s.read("~/.ssh/id_rsa"), err("outside_root"), "A9");
    let messy = format!("{}//sub///./ok.txt", f.path("root"));
    assert_eq!(s.read(&messy), Ok("ok\n".into()), "A11");
    // B: symlinks, never followed, wherever they are on the way.
    for name in [
        "link_abs",
        "link_rel",
        "procroot",
        "cwdlink",
        "loop",
        "inner_link",
    ] {
        assert_eq!(
            s.read(&f.path(&format!("root/{name}"))),
            err("symlink"),
            "B {name}"
        );
    }
    assert_eq!(
        s.call("list_directory", json!({"path": f.path("root/link_dir")})),
        err("symlink"),
        "B3"
    );
    assert_eq!(
        s.read(&f.path("root/link_dir/secret.txt")),
        err("symlink"),
        "B4"
    );
    assert_eq!(s.read(&f.path("root/dangling")), err("symlink"), "B6");
    let info = s.call("get_file_info", json!({"path": f.path("root/link_abs")}));
    let info = info.expect("B8: the link itself is described");
    assert!(
        info.contains("type: symlink") && !info.contains("size"),
        "B8 {info}"
    );
    let started = Instant::now();
    assert_eq!(s.read(&f.path("root/loop")), err("symlink"), "B12");
    assert!(started.elapsed() < Duration::from_secs(1));
    // B14: links listed as links, never descended, no target size.
    let list = s
        .call("list_directory_with_sizes", json!({"path": f.path("root")}))
        .expect("list");
    assert!(
        list.contains("[LINK] link_abs") && list.contains("[LINK] link_dir"),
        "{list}"
    );
    assert!(!list.contains("secret"), "{list}");
    let tree = s
        .call("directory_tree", json!({"path": f.path("root")}))
        .expect("tree");
    assert!(
        !tree.contains("secret.txt"),
        "the tree went through a link: {tree}"
    );
    let found = s
        .call(
            "search_files",
            json!({"path": f.path("root"), "pattern": "**/secret*"}),
        )
        .expect("search");
    assert_eq!(found, "No matches found", "{found}");
    // C: hard links and special files.
    assert_eq!(s.read(&f.path("root/hard")), err("hardlink"), "C1");
    assert_eq!(s.read(&f.path("root/zero")), err("symlink"), "C4");
    let started = Instant::now();
    assert_eq!(
        s.call("read_media_file", json!({"path": f.path("root/pipe")})),
        err("not_regular"),
        "C6"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a FIFO is never waited on"
    );
    let info = s
        .call("get_file_info", json!({"path": f.path("root/pipe")}))
        .expect("C6 info");
    assert!(info.contains("type: fifo"), "{info}");
    // D: encodings and names.
    let long = format!("{}/{}", f.path("root"), "a".repeat(5000));
    for p in [
        "sub/ok.txt\u{0}/../../outside/secret.txt",
        long.as_str(),
        "a\nb",
        "x\u{202E}txt.exe",
        "",
        "sub\\ok.txt",
    ] {
        assert_eq!(s.read(p), err("invalid_path"), "D {p:?}");
    }
    let list = s
        .call("list_directory", json!({"path": f.path("root")}))
        .expect("list");
    assert!(list.contains("[FILE] bad\\xff"), "D4: {list}");
    // F: limits.
    let started = Instant::now();
    assert_eq!(s.read(&f.path("root/big.bin")), err("too_large"), "F1");
    assert!(started.elapsed() < Duration::from_millis(500));
    let many: Vec<String> = (0..10_000).map(|_| f.path("root/sub/ok.txt")).collect();
    assert_eq!(
        s.call("read_multiple_files", json!({ "paths": many })),
        err("limit_exceeded"),
        "F4"
    );
    let batch = s
        .call(
            "read_multiple_files",
            json!({"paths": [f.path("root/sub/ok.txt"), f.path("root/hard")]}),
        )
        .expect("a batch answers each path");
    assert!(
        batch.contains("ok\n") && batch.contains("hardlink"),
        "{batch}"
    );
    // H3: read-only: no write tool offered.
    let names = s.tool_names();
    assert!(
        names.iter().any(|n| n == "read_text_file") && !names.iter().any(|n| n == "write_file"),
        "{names:?}"
    );
    // Protocol hygiene: strict JSON, bad requests answered, not dropped.
    let dup = s.send(r#"{"jsonrpc":"2.0","id":99,"id":100,"method":"ping"}"#);
    assert_eq!(dup["error"]["code"], -32700, "{dup}");
    let unknown = s.request("tools/call", json!({"name": "write_file", "arguments": {}}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    // Nothing outside changed.
    assert_eq!(f.outside(), before);
    // The server confined itself.
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).expect("status");
    assert!(
        status.contains("Seccomp:\t2") && status.contains("NoNewPrivs:\t1"),
        "{status}"
    );
    // H2: standard output held only JSON-RPC (each line above parsed as JSON); standard error
    // an audit line for each tool call, without paths.
    let audit = s.audit_lines();
    assert!(
        audit
            .iter()
            .any(|l| l["tool"] == "read_text_file" && l["outcome"] == "ok"),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|l| l["outcome"] == "hardlink"),
        "{audit:?}"
    );
    assert!(
        audit.iter().all(|l| !l.to_string().contains(&s.top)),
        "{audit:?}"
    );
}

#[test]
fn limits_and_refusals_at_start() {
    let f = Fixture::new();
    // F6: a burst beyond the bucket is refused, with a time to retry.
    let mut s = Server::start(&f, &[]);
    let refused = (0..200)
        .filter(|_| s.read("sub/ok.txt") == err("rate_limited"))
        .count();
    assert!(refused >= 50, "{refused} of 200 refused");
    drop(s);
    // F5: a deep tree is cut at the depth cap, and says so.
    let mut deep = f.root();
    for _ in 0..100 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).expect("deep");
    let mut s = Server::start(&f, &[]);
    let tail = s.call("read_text_file", json!({"path": "sub/ok.txt", "tail": 1}));
    assert_eq!(tail, Ok("ok\n".into()));
    // A hard-linked file's size is not told (it may be a file outside).
    let info = s
        .call("get_file_info", json!({"path": "hard"}))
        .expect("info");
    assert!(
        info.contains("hardlink: true") && !info.contains("size"),
        "{info}"
    );
    let tree = s
        .call("directory_tree", json!({"path": f.path("root")}))
        .expect("tree");
    assert!(
        tree.contains("\"truncated\": true"),
        "{}",
        &tree[..tree.len().min(300)]
    );
    drop(s);
    // E4: no root, no server; --allow-destructive needs --allow-write.
    let o = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .arg("fs")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .args(["fs", "--allow-destructive", "--root"])
        .arg(f.root())
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

/// The official Python SDK client, straight to the server and behind `mcpwall run`.
#[test]
fn the_python_sdk_client_uses_it_directly_and_through_mcpwall_run() {
    let f = Fixture::new();
    let root = f.path("root");
    let mcpwall = env!("CARGO_BIN_EXE_mcpwall");
    let audit = f.path("audit.jsonl");
    let fs_cmd = [mcpwall, "fs", "--root", &root];
    let through_run: Vec<&str> = [mcpwall, "run", "--no-pins", "--audit", &audit, "--"]
        .into_iter()
        .chain(fs_cmd)
        .collect();
    for cmd in [fs_cmd.to_vec(), through_run] {
        let o = Command::new(python())
            .arg(peers().join("fs_client.py"))
            .arg(&root)
            .arg("--")
            .args(&cmd)
            .output()
            .expect("the Python client runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert!(
            out["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|n| n == "read_text_file")),
            "{out}"
        );
        assert_eq!(out["ok"], json!({"ok": true, "text": "ok\n"}), "{out}");
        assert_eq!(out["link"]["ok"], false, "{out}");
        assert!(
            out["link"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("symlink")),
            "{out}"
        );
        assert!(
            out["list"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("[DIR] sub")),
            "{out}"
        );
        assert!(
            out["roots"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(&root)),
            "{out}"
        );
    }
}

#[test]
fn writes_stay_inside_and_off_protected_paths() {
    let f = Fixture::new();
    let before = f.outside();
    let mut s = Server::start(&f, &["--allow-write"]);
    let offered = s.tool_names();
    assert!(offered.iter().any(|n| n == "write_file"), "{offered:?}");
    assert!(
        !offered.iter().any(|n| n == "move_file"),
        "move_file needs --allow-destructive"
    );
    let write = |s: &mut Server, path: &str, content: &str| {
        s.call("write_file", json!({"path": path, "content": content}))
    };
    // What works.
    assert!(write(&mut s, "new.txt", "hello\n").is_ok());
    assert_eq!(
        std::fs::read_to_string(f.root().join("new.txt")).ok(),
        Some("hello\n".into())
    );
    assert!(write(&mut s, &f.path("root/sub/ok.txt"), "replaced\n").is_ok());
    assert_eq!(s.read("sub/ok.txt"), Ok("replaced\n".into()));
    let edit = s.call(
        "edit_file",
        json!({"path": "sub/ok.txt", "edits": [{"oldText": "replaced", "newText": "edited"}], "dryRun": true}),
    );
    assert!(
        edit.as_ref()
            .is_ok_and(|d| d.contains("-replaced") && d.contains("+edited")),
        "{edit:?}"
    );
    assert_eq!(
        s.read("sub/ok.txt"),
        Ok("replaced\n".into()),
        "a dry run writes nothing"
    );
    let edit = s.call(
        "edit_file",
        json!({"path": "sub/ok.txt", "edits": [{"oldText": "replaced", "newText": "edited"}]}),
    );
    assert!(edit.is_ok(), "{edit:?}");
    assert_eq!(s.read("sub/ok.txt"), Ok("edited\n".into()));
    assert_eq!(
        s.call(
            "edit_file",
            json!({"path": "sub/ok.txt", "edits": [{"oldText": "absent", "newText": "x"}]})
        ),
        err("no_match")
    );
    assert!(
        s.call("create_directory", json!({"path": "made/deep/er"}))
            .is_ok()
    );
    assert!(f.root().join("made/deep/er").is_dir());
    // A read-only file is not replaced (a rename needs only the directory's permission).
    std::fs::write(f.root().join("ro.txt"), "keep").expect("write");
    let mut perms = std::fs::metadata(f.root().join("ro.txt"))
        .expect("meta")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(f.root().join("ro.txt"), perms).expect("chmod");
    let ro = write(&mut s, "ro.txt", "changed");
    // Even as root: the server gives up its capabilities as it confines itself, so file
    // permissions hold for it as for anyone.
    assert_eq!(ro, err("read_only"));
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"oldText": "edited", "newText": "edited"}))
        .collect();
    assert_eq!(
        s.call("edit_file", json!({"path": "sub/ok.txt", "edits": many})),
        err("limit_exceeded")
    );
    // Protected names as a case-folding file system spells them.
    for p in [
        ".v\u{17F}code/tasks.json",
        ".g\u{AD}it/hooks/pre-commit",
        "GIT~1/hooks/x",
        "CLAUDE.md",
    ] {
        assert_eq!(write(&mut s, p, "x"), err("protected"), "{p:?}");
    }
    // A: outside, prefix siblings, `..`.
    assert_eq!(
        write(&mut s, &f.path("root_evil/pwn.txt"), "x"),
        err("outside_root"),
        "A2"
    );
    assert_eq!(
        s.call(
            "create_directory",
            json!({"path": f.path("root_evil/newdir")})
        ),
        err("outside_root"),
        "A4"
    );
    assert_eq!(write(&mut s, "../outside/pwn.txt", "x"), err("dotdot"));
    // B: symlinks are replaced never written through, and never followed on the way.
    assert_eq!(
        write(&mut s, "link_abs", "OVERWRITTEN"),
        err("symlink"),
        "B5"
    );
    assert_eq!(write(&mut s, "dangling", "CREATED"), err("symlink"), "B6");
    assert_eq!(
        s.call(
            "edit_file",
            json!({"path": "link_rel", "edits": [{"oldText": "TOPSECRET", "newText": "EDITED"}]})
        ),
        err("symlink"),
        "B7"
    );
    assert_eq!(
        write(&mut s, "link_dir/new.txt", "x"),
        err("symlink"),
        "B11"
    );
    assert_eq!(
        s.call("create_directory", json!({"path": "link_dir/d"})),
        err("symlink"),
        "B11"
    );
    // C2: a hard link to a file outside is not written through.
    assert_eq!(write(&mut s, "hard", "X"), err("hardlink"), "C2");
    // F3: too large, and nothing left behind.
    let big = "a".repeat(20 << 20);
    assert_eq!(write(&mut s, "big.txt", &big), err("too_large"), "F3");
    assert!(!f.root().join("big.txt").exists());
    // G: protected paths.
    for p in [
        ".git/hooks/pre-commit",
        ".git/config",
        ".mcp.json",
        ".cursor/mcp.json",
        ".vscode/tasks.json",
        ".claude/settings.json",
        ".bashrc",
        ".GIT/hooks/post-checkout",
    ] {
        assert_eq!(
            write(&mut s, p, "#!/bin/sh\nid\n"),
            err("protected"),
            "G1/G2 {p}"
        );
    }
    assert_eq!(
        s.call("create_directory", json!({"path": ".vscode"})),
        err("protected"),
        "G3"
    );
    assert!(!f.root().join(".git/hooks/pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(f.root().join(".git/config")).ok(),
        Some("[core]\n".into())
    );
    drop(s);
    // move_file, with --allow-destructive: within the roots, never over a name, never protected.
    let mut s = Server::start(&f, &["--allow-write", "--allow-destructive"]);
    assert!(s.tool_names().iter().any(|n| n == "move_file"));
    let mv = |s: &mut Server, a: &str, b: &str| {
        s.call("move_file", json!({"source": a, "destination": b}))
    };
    assert!(mv(&mut s, "new.txt", "moved.txt").is_ok());
    assert!(f.root().join("moved.txt").exists() && !f.root().join("new.txt").exists());
    assert_eq!(
        mv(&mut s, &f.path("root_evil/x.txt"), "stolen.txt"),
        err("outside_root"),
        "A5"
    );
    assert_eq!(mv(&mut s, "moved.txt", "sub/ok.txt"), err("exists"));
    assert_eq!(
        mv(&mut s, "moved.txt", ".git/hooks/post-checkout"),
        err("protected"),
        "G3"
    );
    assert_eq!(
        mv(&mut s, "sub/ok.txt", "link_dir/m.txt"),
        err("symlink"),
        "B11"
    );
    // A directory holding protected names is not moved into place (an unpacked repository
    // whose .git/config runs commands).
    std::fs::create_dir_all(f.root().join("dl/x/.git")).expect("mkdir");
    std::fs::write(
        f.root().join("dl/x/.git/config"),
        "[core]\nfsmonitor = evil\n",
    )
    .expect("write");
    assert_eq!(mv(&mut s, "dl/x", "app"), err("protected"));
    assert!(f.root().join("dl/x/.git/config").exists() && !f.root().join("app").exists());
    assert!(
        mv(&mut s, "made", "made2").is_ok(),
        "a clean directory moves"
    );
    // No temporary file left; nothing outside changed; nothing new outside the root.
    let leftovers: Vec<_> = std::fs::read_dir(f.root())
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("mcpwall-write"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(f.outside(), before);
    assert!(!f.dir.path().join("outside/created.txt").exists());
}

/// Whether the tests run as root (who may write any file).
pub(super) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// E2: roots the client sends narrow the server's, and never widen them.
#[test]
fn client_roots_narrow_and_never_widen() {
    let f = Fixture::new();
    let mut s = Server::start_with(&f, &[], json!({"roots": {"listChanged": true}}));
    // Before the client answers, the configured root is in force.
    assert_eq!(s.read("link_abs"), err("symlink"));
    s.tell(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let ask = s.receive();
    assert_eq!(ask["method"], "roots/list", "{ask}");
    let roots = json!([
        {"uri": format!("file://{}", f.path("root/sub"))},
        // Outside every configured root: ignored, not added.
        {"uri": format!("file://{}", f.path("outside"))},
        {"uri": "file:///etc"},
        {"uri": "https://example.com/"},
    ]);
    s.tell(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"roots": roots}}).to_string());
    assert_eq!(s.read(&f.path("root/sub/ok.txt")), Ok("ok\n".into()));
    assert_eq!(s.read(&f.path("root/link_abs")), err("outside_root"));
    assert_eq!(s.read(&f.path("root/.git/config")), err("outside_root"));
    assert_eq!(s.read(&f.path("outside/secret.txt")), err("outside_root"));
    assert_eq!(s.read("/etc/hostname"), err("outside_root"));
    let listed = s
        .call("list_allowed_directories", json!({}))
        .expect("roots");
    assert!(
        listed.contains("/root/sub") && !listed.contains("outside"),
        "{listed}"
    );
    // The client's roots change: asked again; none inside leaves nothing.
    s.tell(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#);
    let ask = s.receive();
    assert_eq!(ask["method"], "roots/list", "{ask}");
    let roots = json!([{"uri": "file:///etc"}]);
    s.tell(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"roots": roots}}).to_string());
    assert_eq!(s.read(&f.path("root/sub/ok.txt")), err("outside_root"));
}

/// The issue's four ways of meeting the attacks: {the vulnerable test server, `mcpwall fs`} ×
/// {unconfined, in `mcpwall sandbox`}, each driven by the official Python SDK client. Only the
/// vulnerable server unconfined leaks (each attack is seen to work there, so the checks can see
/// a leak); the kernel stops the vulnerable server in the sandbox, except for a hard link made
/// before it started (Landlock judges paths, and that path is inside); `mcpwall fs` refuses
/// every attack with its code, confined or not.
#[test]
fn only_the_vulnerable_server_unconfined_leaks() {
    let mcpwall = env!("CARGO_BIN_EXE_mcpwall");
    let bin_dir = Path::new(mcpwall)
        .parent()
        .expect("a directory")
        .display()
        .to_string();
    let python = python().display().to_string();
    let vulnerable = peers()
        .join("vulnerable_fs_server.py")
        .display()
        .to_string();
    for (hardened, confined) in [(false, false), (false, true), (true, false), (true, true)] {
        let way = format!(
            "{} {}",
            if hardened { "mcpwall fs" } else { "vulnerable" },
            if confined {
                "in the sandbox"
            } else {
                "unconfined"
            }
        );
        let f = Fixture::new();
        let before = f.outside();
        let root = f.path("root");
        let mut cmd: Vec<String> = Vec::new();
        if confined {
            cmd.extend([mcpwall, "sandbox", "--rw", &root, "--ro", &bin_dir].map(str::to_owned));
            for tree in super::sandbox::python_trees() {
                cmd.extend(["--ro".to_owned(), tree]);
            }
            cmd.extend(["--env", "MCPWALL_VULNERABLE_FS_SERVER", "--"].map(str::to_owned));
        }
        if hardened {
            cmd.extend([mcpwall, "fs", "--allow-write", "--root", &root].map(str::to_owned));
        } else {
            cmd.extend([&python, &vulnerable, "--root", &root].map(str::to_owned));
        }
        let o = Command::new(&python)
            .arg(peers().join("fs_attacks.py"))
            .arg(f.dir.path())
            .arg("--")
            .args(&cmd)
            .current_dir(f.dir.path())
            .env("MCPWALL_VULNERABLE_FS_SERVER", "tests-only")
            .output()
            .expect("the Python client runs");
        assert!(
            o.status.success(),
            "{way}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(out["inside"]["text"], "ok\n", "{way}: {out}");
        let read = |name: &str, marker: &str| {
            out[name]["ok"] == true
                && out[name]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(marker))
        };
        let leaks = [
            ("prefix_read", read("prefix_read", "EVILSIBLING")),
            ("prefix_list", read("prefix_list", "x.txt")),
            ("link_abs", read("link_abs", "TOPSECRET")),
            ("link_rel", read("link_rel", "TOPSECRET")),
            ("link_dir", read("link_dir", "TOPSECRET")),
            ("procroot", read("procroot", "TOPSECRET")),
            ("hard", read("hard", "TOPSECRET")),
            (
                "write_prefix",
                Path::new(&f.path("root_evil/pwn.txt")).exists(),
            ),
            (
                "write_link",
                std::fs::read_to_string(f.path("outside/secret.txt")).ok()
                    != Some("TOPSECRET\n".to_owned()),
            ),
            (
                "write_dangling",
                Path::new(&f.path("outside/created.txt")).exists(),
            ),
        ];
        for (name, leaked) in leaks {
            let expected = match (hardened, confined) {
                (false, false) => true,
                (false, true) => name == "hard",
                (true, _) => false,
            };
            assert_eq!(leaked, expected, "{way}: {name}: {}", out[name]);
        }
        if hardened {
            let codes: Vec<(&str, &str)> = [
                ("prefix_read", "outside_root"),
                ("prefix_list", "outside_root"),
                ("link_abs", "symlink"),
                ("link_rel", "symlink"),
                ("link_dir", "symlink"),
                ("procroot", "symlink"),
                ("hard", "hardlink"),
                ("write_prefix", "outside_root"),
                ("write_link", "symlink"),
                ("write_dangling", "symlink"),
            ]
            .into();
            for (name, code) in codes {
                assert_eq!(out[name]["code"], code, "{way}: {name}: {}", out[name]);
            }
        } else if confined {
            // The server's own check let each one through; the kernel refused it.
            for name in [
                "prefix_read",
                "link_abs",
                "link_rel",
                "procroot",
                "write_link",
            ] {
                assert!(
                    out[name]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Permission denied")),
                    "{way}: {name}: {}",
                    out[name]
                );
            }
        }
        if (hardened, confined) != (false, false) {
            assert_eq!(f.outside(), before, "{way}: something outside changed");
        }
    }
}

/// B13: `--symlinks beneath` follows the symlinks whose resolution stays beneath the root, for
/// reading only; every way out is still refused (by the kernel), and writes still refuse links.
#[test]
fn symlinks_beneath_the_root_are_followed_only_when_asked_and_only_to_read() {
    let f = Fixture::new();
    let before = f.outside();
    let root = f.root();
    std::os::unix::fs::symlink("sub", root.join("sub_link")).expect("symlink");
    // Relative, but it climbs out through `..`.
    std::os::unix::fs::symlink("sub/../../outside/secret.txt", root.join("climb"))
        .expect("symlink");
    let mut s = Server::start(&f, &["--allow-write"]);
    assert_eq!(s.read(&f.path("root/inner_link")), err("symlink"));
    drop(s);
    let mut s = Server::start(&f, &["--allow-write", "--symlinks", "beneath"]);
    assert_eq!(s.read(&f.path("root/inner_link")), Ok("ok\n".into()), "B13");
    assert_eq!(s.read(&f.path("root/sub_link/ok.txt")), Ok("ok\n".into()));
    let list = s
        .call("list_directory", json!({"path": f.path("root/sub_link")}))
        .expect("list");
    assert!(list.contains("ok.txt"), "{list}");
    for name in [
        "link_abs",
        "link_rel",
        "link_dir/secret.txt",
        "procroot",
        "zero",
        "climb",
    ] {
        assert_eq!(
            s.read(&f.path(&format!("root/{name}"))),
            err("outside_root"),
            "{name}"
        );
    }
    assert_eq!(s.read(&f.path("root/loop")), err("symlink"));
    assert_eq!(s.read(&f.path("root/hard")), err("hardlink"));
    // A link is still described as itself, and walks still do not go through one.
    let info = s
        .call("get_file_info", json!({"path": f.path("root/inner_link")}))
        .expect("info");
    assert!(info.contains("type: symlink"), "{info}");
    let found = s
        .call(
            "search_files",
            json!({"path": f.path("root"), "pattern": "**/secret*"}),
        )
        .expect("search");
    assert_eq!(found, "No matches found", "{found}");
    // Writes never go through a link: not the last component, not one on the way (a link
    // could lead into a protected directory under another name).
    std::os::unix::fs::symlink(".git/hooks", root.join("hooks_link")).expect("symlink");
    for path in ["inner_link", "sub_link/new.txt", "hooks_link/pre-commit"] {
        assert_eq!(
            s.call(
                "write_file",
                json!({"path": f.path(&format!("root/{path}")), "content": "x"})
            ),
            err("symlink"),
            "{path}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join("sub/ok.txt")).ok(),
        Some("ok\n".to_owned())
    );
    assert!(!root.join("sub/new.txt").exists());
    assert!(!root.join(".git/hooks/pre-commit").exists());
    assert_eq!(f.outside(), before);
}

/// The caps as flags (each refused at 0), a root given through a symlink (D8), a name over
/// 255 bytes (D2), and a search pattern made to blow up (F8).
#[test]
fn caps_are_flags_and_odd_inputs_end_fast() {
    let f = Fixture::new();
    let mut s = Server::start(
        &f,
        &[
            "--max-batch",
            "2",
            "--max-entries",
            "3",
            "--rate",
            "1",
            "--burst",
            "5",
        ],
    );
    let ok = f.path("root/sub/ok.txt");
    assert_eq!(
        s.call("read_multiple_files", json!({"paths": [&ok, &ok, &ok]})),
        err("limit_exceeded")
    );
    let list = s
        .call("list_directory", json!({"path": f.path("root")}))
        .expect("list");
    assert_eq!(
        list.lines().filter(|l| l.starts_with('[')).count(),
        3,
        "{list}"
    );
    // Two calls spent; the burst of 5 leaves 3, then the bucket refills at 1 a second.
    let answered = (0..10).filter(|_| s.read(&ok).is_ok()).count();
    assert!((3..=4).contains(&answered), "{answered} of 10 answered");
    drop(s);
    for flag in [
        "--max-batch",
        "--max-depth",
        "--max-entries",
        "--walk-seconds",
        "--rate",
        "--burst",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
            .args(["fs", flag, "0", "--root"])
            .arg(f.root())
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{flag} 0");
    }
    // D8: the root given as a symlink to it; both spellings name the same files, resolved
    // from the one handle.
    let alias = f.dir.path().join("rootlink");
    std::os::unix::fs::symlink(f.root(), &alias).expect("symlink");
    let mut s = Server::start_at(&f, &alias, &[], json!({}));
    assert_eq!(
        s.read(&f.path("rootlink/sub/ok.txt")),
        Ok("ok\n".into()),
        "D8"
    );
    assert_eq!(s.read(&f.path("root/sub/ok.txt")), Ok("ok\n".into()), "D8");
    assert_eq!(s.read(&f.path("rootlink/link_abs")), err("symlink"), "D8");
    // D2: one name of 300 bytes.
    let long = format!("{}/{}", f.path("root"), "n".repeat(300));
    assert_eq!(s.read(&long), err("invalid_path"), "D2");
    // F8: a pattern of many `**` over a deep tree ends within the walk budget.
    let mut deep = f.root();
    for i in 0..40 {
        deep.push(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).expect("deep");
    let started = Instant::now();
    let found = s.call(
        "search_files",
        json!({"path": f.path("root"), "pattern": "**/**/**/**/**/**/**/**/**/**/*x"}),
    );
    assert!(found.is_ok(), "{found:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}
