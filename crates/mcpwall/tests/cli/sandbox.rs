//! `mcpwall sandbox`: what a confined command can and cannot do, tried for real.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::gateway::{check_python_session, peers, python};
use super::{code, stderr, stdout};

/// `mcpwall sandbox ARGS -- COMMAND...`, with an extra variable in the environment.
fn sandbox(args: &[&str], command: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .arg("sandbox")
        .args(args)
        .arg("--")
        .args(command)
        .env("NO_COLOR", "1")
        .env("GITHUB_TOKEN", "ghp_not_a_real_token_for_the_test")
        .env("MCPWALL_TEST_KEPT", "kept")
        .stdin(Stdio::null())
        .output()
        .expect("mcpwall runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[test]
fn the_file_system_is_confined_to_the_trees_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (inside, data, outside) = (
        dir.path().join("inside"),
        dir.path().join("data"),
        dir.path().join("outside"),
    );
    for d in [&inside, &data, &outside] {
        std::fs::create_dir(d).expect("mkdir");
    }
    std::fs::write(inside.join("a.txt"), "readable").expect("write");
    std::fs::write(outside.join("secret.txt"), "secret").expect("write");
    let trees = ["--ro", path(&inside), "--rw", path(&data)];
    let sh = |script: &str| sandbox(&trees, &["sh", "-c", script]);

    let o = sh(&format!("cat {}/a.txt", path(&inside)));
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (0, "readable"),
        "{}",
        stderr(&o)
    );
    let o = sh(&format!("cat {}/secret.txt", path(&outside)));
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("secret"));
    // Not the directory listing either.
    let o = sh(&format!("ls {}", path(&outside)));
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    // Written where allowed, nowhere else.
    let o = sh(&format!("echo x > {}/out.txt", path(&data)));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(data.join("out.txt").exists());
    let o = sh(&format!("echo y > {}/b.txt", path(&inside)));
    assert_ne!(code(&o), 0);
    assert!(!inside.join("b.txt").exists());
    let o = sh(&format!("mv {}/a.txt {}/a.txt", path(&inside), path(&data)));
    assert_ne!(code(&o), 0);
    assert!(inside.join("a.txt").exists());
    // A program in a writable tree is not executed: what the command writes, it cannot run.
    std::fs::copy("/bin/true", data.join("true")).expect("copy");
    let o = sandbox(&trees, &[path(&data.join("true"))]);
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    // Other processes' /proc entries (their environments) are not readable; its own are.
    let o = sh("cat /proc/1/environ");
    assert_ne!(code(&o), 0);
    let o = sandbox(&trees, &["cat", "/proc/self/status"]);
    let status = stdout(&o);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
}

#[test]
fn environment_descriptors_and_limits() {
    let o = sandbox(&["--env", "MCPWALL_TEST_KEPT"], &["env"]);
    let env = stdout(&o);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(env.contains("MCPWALL_TEST_KEPT=kept"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains("GITHUB_TOKEN"), "the token leaked: {env}");
    // A descriptor the caller left open (7, from the shell) is closed for the command.
    let mcpwall = env!("CARGO_BIN_EXE_mcpwall");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 7</etc/hostname; ls /proc/self/fd >&2; {mcpwall} sandbox -- ls /proc/self/fd"
        ))
        .output()
        .expect("sh runs");
    assert!(String::from_utf8_lossy(&o.stderr).lines().any(|l| l == "7"));
    let fds: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert!(!fds.iter().any(|f| f == "7"), "{fds:?}");
    // Limits, soft and hard; core dumps off.
    let o = sandbox(
        &["--limit", "memory=1G", "--limit", "cpu=60"],
        &["cat", "/proc/self/limits"],
    );
    let limits = stdout(&o);
    let row = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(
        row("Max data size").contains("1073741824 1073741824"),
        "{limits}"
    );
    assert!(row("Max cpu time").contains("60 60"), "{limits}");
    assert!(row("Max core file size").contains("0 0"), "{limits}");
}

/// Run as root (a container, a service), the command keeps no capability: no device node in a
/// tree it may write (one for the disk would read around every rule), no raised limits.
#[test]
fn root_keeps_no_capabilities() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = dir.path().join("disk");
    // capget (effective, permitted, inheritable; two words each), the bounding set by
    // PR_CAPBSET_READ, then mknod.
    let probe = format!(
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)\n\
         data = (ctypes.c_uint32 * 6)()\n\
         assert libc.syscall(125, hdr, data) == 0\n\
         bounding = [c for c in range(64) if libc.prctl(23, c, 0, 0, 0) == 1]\n\
         try:\n    os.mknod({:?}, 0o600 | 0o020000, os.makedev(1, 5)); made = 'made'\n\
         except OSError as e:\n    made = e.strerror\n\
         print(list(data), bounding, made)\n",
        path(&node)
    );
    let o = sandbox(
        &["--rw", path(dir.path())],
        &["/usr/bin/python3", "-c", &probe],
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("[0, 0, 0, 0, 0, 0] [] "),
        "{out}{}",
        stderr(&o)
    );
    assert!(!out.contains("made"), "{out}");
    assert!(!node.exists());
}

#[test]
fn no_network_no_namespaces_unless_asked() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let connect = format!("echo hi > /dev/tcp/127.0.0.1/{port}");
    let o = sandbox(&[], &["bash", "-c", &connect]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("not permitted"), "{}", stderr(&o));
    assert!(listener.accept().is_err(), "a connection got through");
    let o = sandbox(&["--net", "allow"], &["bash", "-c", &connect]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    listener.set_nonblocking(false).expect("blocking");
    assert!(listener.accept().is_ok());
    // Pipes work.
    let o = sandbox(&[], &["bash", "-c", "echo ok | cat"]);
    assert_eq!(stdout(&o), "ok\n");
    // Sockets of every other family are refused (an allow-list, not a list of the known
    // dangerous ones), Unix ones too: they reach daemons outside the sandbox. Socket pairs
    // work. Typing into the terminal it came from is refused.
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("daemon.sock");
    let _daemon = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let probe = format!(
        "import socket, fcntl, termios, errno\n\
         def tries(f):\n    try:\n        f(); return 'ok'\n    except OSError as e:\n        return errno.errorcode[e.errno]\n\
         def unix():\n    s = socket.socket(socket.AF_UNIX); s.connect({:?})\n\
         print(tries(unix), tries(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),\n\
         tries(lambda: socket.socket(socket.AF_VSOCK)), tries(lambda: socket.socketpair()),\n\
         tries(lambda: fcntl.ioctl(0, termios.TIOCSTI, b'x')),\n\
         tries(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)))\n",
        path(&socket)
    );
    let python = ["/usr/bin/python3", "-c", &probe];
    let o = sandbox(&[], &python);
    assert_eq!(
        stdout(&o).trim(),
        "EPERM EPERM EPERM ok EPERM EPERM",
        "{}",
        stderr(&o)
    );
    let o = sandbox(&["--unix", "allow", "--rw", path(dir.path())], &python);
    assert_eq!(stdout(&o).split(' ').next(), Some("ok"), "{}", stderr(&o));
    // Nor does its own /proc list the machine's socket paths.
    let o = sandbox(&[], &["cat", "/proc/self/net/unix"]);
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    // No new namespaces (a way around every rule above).
    let o = sandbox(&[], &["unshare", "--user", "--map-root-user", "true"]);
    assert_ne!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn what_cannot_be_set_up_stops_the_launch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", path(&marker));
    // A tree that does not exist: nothing runs.
    let o = sandbox(
        &["--ro", "/no/such/tree", "--rw", path(dir.path())],
        &["sh", "-c", &touch],
    );
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(stderr(&o).contains("/no/such/tree"), "{}", stderr(&o));
    assert!(!marker.exists());
    // A tree reached through a symlink (one a confined program could have planted): refused.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let o = sandbox(&["--ro", path(&link)], &["sh", "-c", &touch]);
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
    assert!(!marker.exists());
    let o = sandbox(&["--limit", "memory=lots"], &["true"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = sandbox(&[], &["/no/such/command"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .args(["sandbox", "--probe"])
        .output()
        .expect("runs");
    assert!(stdout(&o).contains("Landlock"), "{}", stdout(&o));
}

/// What the test server needs to read: the interpreter's base installation (a virtual
/// environment points at it), the virtual environment, and the peers' directory.
pub(super) fn python_trees() -> [String; 3] {
    let python = python();
    let base = Command::new(&python)
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .expect("python runs");
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("a virtual environment");
    [
        String::from_utf8_lossy(&base.stdout).trim().to_owned(),
        venv.display().to_string(),
        peers().display().to_string(),
    ]
}

/// `mcpwall run` under a policy, for a "server" that prints its own status (or a file) to
/// standard error and exits; with no client (standard input closed).
fn run_with_policy(policy: &Path, name: &str, script: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .args([
            "run",
            "--no-pins",
            "--audit",
            "/dev/null",
            "--name",
            name,
            "--policy",
        ])
        .arg(policy)
        .args(["--", "sh", "-c", script])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("mcpwall runs")
}

#[test]
fn a_policy_confines_the_servers_the_gateway_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (notes, outside) = (dir.path().join("notes"), dir.path().join("outside"));
    std::fs::create_dir(&notes).expect("mkdir");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(notes.join("n.txt"), "a note").expect("write");
    std::fs::write(outside.join("s.txt"), "a secret").expect("write");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[server]]\nname = \"notes\"\n[server.sandbox]\nro = [{:?}]\n\
             limits = {{ cpu = \"30\" }}\n",
            path(&notes)
        ),
    )
    .expect("write");
    let status = "exec cat /proc/self/status >&2";
    let o = run_with_policy(&policy, "notes", status);
    assert!(stderr(&o).contains("Seccomp:\t2"), "{}", stderr(&o));
    let o = run_with_policy(
        &policy,
        "notes",
        &format!("exec cat {}/n.txt >&2", path(&notes)),
    );
    assert!(stderr(&o).contains("a note"), "{}", stderr(&o));
    let o = run_with_policy(
        &policy,
        "notes",
        &format!("exec cat {}/s.txt >&2", path(&outside)),
    );
    let err = stderr(&o);
    assert!(
        err.contains("Permission denied") && !err.contains("a secret"),
        "{err}"
    );
    // A server no section confines runs as before.
    let o = run_with_policy(&policy, "other", status);
    assert!(stderr(&o).contains("Seccomp:\t0"), "{}", stderr(&o));
    // A policy whose sandbox cannot be set up: the server does not start.
    std::fs::write(
        &policy,
        "[[server]]\nname = \"*\"\n[server.sandbox]\nro = [\"/no/such/tree\"]\n",
    )
    .expect("write");
    let marker = dir.path().join("ran");
    let o = run_with_policy(&policy, "notes", &format!("touch {}", path(&marker)));
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("/no/such/tree"), "{}", stderr(&o));
    assert!(!marker.exists());
}

/// The test server, confined by a policy, behind `mcpwall run`: the official Python client
/// sees it work.
#[test]
fn an_mcp_server_runs_confined_behind_mcpwall_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = python();
    let peers = peers();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[server]]\nname = \"demo\"\n[server.sandbox]\nro = {:?}\n",
            python_trees()
        ),
    )
    .expect("write");
    let mut args: Vec<String> = vec![peers.join("client.py").display().to_string()];
    args.extend(
        [
            env!("CARGO_BIN_EXE_mcpwall"),
            "run",
            "--name",
            "demo",
            "--policy",
            path(&policy),
            "--no-pins",
            "--audit",
            path(&dir.path().join("audit.jsonl")),
            "--",
        ]
        .map(str::to_owned),
    );
    args.push(python.display().to_string());
    args.push(peers.join("poisoned_server.py").display().to_string());
    let o = Command::new(&python)
        .args(&args)
        .output()
        .expect("the Python client runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "client failed: {err}");
    let out: Value = serde_json::from_slice(&o.stdout).expect("the client prints JSON");
    check_python_session(&out);
}

/// Attack case S3: a hard link to a file outside (to read it through a tree it may write), or a
/// file moved out of its trees: refused by the kernel.
#[test]
fn no_links_or_moves_across_the_walls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), "TOPSECRET").expect("write");
    std::fs::write(work.join("a"), "a").expect("write");
    let probe = format!(
        "import os, errno\n\
         def tries(f):\n    try:\n        f(); return 'ok'\n    except OSError as e:\n        return errno.errorcode[e.errno]\n\
         print(tries(lambda: os.link({secret:?}, {work:?} + '/h')),\n\
         tries(lambda: os.rename({work:?} + '/a', {top:?} + '/moved')),\n\
         tries(lambda: os.symlink({secret:?}, {work:?} + '/s')))\n",
        secret = path(&outside.join("secret.txt")),
        work = path(&work),
        top = path(dir.path()),
    );
    let o = sandbox(
        &["--ro", path(&root), "--rw", path(&work)],
        &["/usr/bin/python3", "-c", &probe],
    );
    // The move out is refused as a write where it may not write. A symlink may be made (it
    // grants nothing: reading through it is judged at its target).
    assert_eq!(stdout(&o).trim(), "EXDEV EACCES ok", "{}", stderr(&o));
    assert!(!work.join("h").exists());
    assert!(work.join("a").exists() && !dir.path().join("moved").exists());
    let o = sandbox(
        &["--ro", path(&root), "--rw", path(&work)],
        &["cat", path(&work.join("s"))],
    );
    assert_ne!(code(&o), 0);
    assert!(!stdout(&o).contains("TOPSECRET"));
}

/// Attack case S6: the system calls that get out of any sandbox (new namespaces, tracing,
/// io_uring, mounts, bpf, file handles) fail with EPERM, clone3 with ENOSYS (its flags cannot
/// be inspected; libcs fall back to clone). Called with null arguments: unfiltered, each would
/// fail with EFAULT or EINVAL instead, so the errors seen are the filter's.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_system_calls_that_escape_are_refused() {
    let probe = "import ctypes, os, errno\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        libc.syscall.restype = ctypes.c_long\n\
        def sys(nr, *args):\n    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])\n    \
            if r == 0 and nr == 56:\n        os._exit(0)\n    \
            return 'ok' if r >= 0 else errno.errorcode[ctypes.get_errno()]\n\
        print(' '.join([\n\
          sys(272, 0x10000000),\n\
          sys(272, 0x20000),\n\
          sys(56, 0x20000 | 17, 0, 0, 0, 0),\n\
          sys(435, 0, 0),\n\
          sys(101, 0, 0, 0, 0),\n\
          sys(425, 1, 0),\n\
          sys(165, 0, 0, 0, 0, 0),\n\
          sys(321, 0, 0, 0),\n\
          sys(304, 0, 0, 0),\n\
          sys(29, 0, 4096, 0o1600),\n\
          sys(68, 0, 0o1600),\n\
          sys(64, 0, 1, 0o1600),\n\
          sys(438, 0, 0, 0),\n\
          sys(312, 0, 0, 0, 0, 0),\n\
        ]))\n";
    let o = sandbox(&[], &["/usr/bin/python3", "-c", probe]);
    assert_eq!(
        stdout(&o).trim(),
        "EPERM EPERM EPERM ENOSYS EPERM EPERM EPERM EPERM EPERM EPERM EPERM EPERM EPERM EPERM",
        "{}",
        stderr(&o)
    );
}

/// Attack case S9: on a kernel without Landlock (made here by a seccomp filter that fails the
/// Landlock calls with ENOSYS, as a kernel without it does), the launcher stops before the
/// command, and so does `mcpwall fs`; `--allow-degraded` (and `--allow-unconfined`) run it with
/// a loud warning, the system call filter still on.
#[cfg(target_arch = "x86_64")]
#[test]
fn no_landlock_no_launch_unless_degraded_is_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let mcpwall = env!("CARGO_BIN_EXE_mcpwall");
    // BPF: landlock_create_ruleset, landlock_add_rule and landlock_restrict_self (444-446)
    // fail with ENOSYS; everything else is allowed. Then exec the rest of the arguments.
    let without_landlock = "import ctypes, os, sys\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        class F(ctypes.Structure):\n    _fields_ = [('code', ctypes.c_ushort), ('jt', ctypes.c_ubyte), ('jf', ctypes.c_ubyte), ('k', ctypes.c_uint)]\n\
        class P(ctypes.Structure):\n    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.POINTER(F))]\n\
        prog = (F * 5)(F(0x20, 0, 0, 0), F(0x35, 0, 2, 444), F(0x25, 1, 0, 446), F(0x06, 0, 0, 0x50000 | 38), F(0x06, 0, 0, 0x7fff0000))\n\
        assert libc.prctl(38, 1, 0, 0, 0) == 0\n\
        assert libc.prctl(22, 2, ctypes.byref(P(5, prog)), 0, 0) == 0, ctypes.get_errno()\n\
        os.execv(sys.argv[1], sys.argv[1:])\n";
    let run = |args: &[&str]| {
        Command::new("/usr/bin/python3")
            .args(["-c", without_landlock, mcpwall])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("python runs")
    };
    let touch = format!("touch {}; grep Seccomp: /proc/self/status", path(&marker));
    let o = run(&["sandbox", "--", "sh", "-c", &touch]);
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(stderr(&o).contains("Landlock"), "{}", stderr(&o));
    assert!(!marker.exists());
    let o = run(&["sandbox", "--allow-degraded", "--", "sh", "-c", &touch]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(marker.exists());
    assert!(stderr(&o).contains("WHOLE FILE SYSTEM"), "{}", stderr(&o));
    assert!(stdout(&o).contains("Seccomp:\t2"), "{}", stdout(&o));
    // The file server too: no Landlock, no server.
    let o = run(&["fs", "--root", path(dir.path())]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("Landlock"), "{}", stderr(&o));
}

/// Attack case S7: a set-user-id program run in the sandbox gains nothing (`no_new_privs`).
/// Needs root, to make a set-user-id-root copy of `id` that an unprivileged user runs; the
/// same copy run outside the sandbox shows the bit works on this file system.
#[test]
fn set_user_id_programs_gain_nothing() {
    if !super::fs::is_root() {
        eprintln!("skipped: making a set-user-id-root program needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let id = dir.path().join("id");
    std::fs::copy("/usr/bin/id", &id).expect("copy");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let as_nobody = |cmd: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(cmd)
            .stdin(Stdio::null())
            .output()
            .expect("setpriv runs")
    };
    let o = as_nobody(&[path(&id), "-u"]);
    assert_eq!(stdout(&o).trim(), "0", "the bit works here: {}", stderr(&o));
    let mcpwall = env!("CARGO_BIN_EXE_mcpwall");
    let o = as_nobody(&[
        mcpwall,
        "sandbox",
        "--ro",
        path(dir.path()),
        "--",
        path(&id),
        "-u",
    ]);
    assert_eq!(stdout(&o).trim(), "65534", "{}", stderr(&o));
}
