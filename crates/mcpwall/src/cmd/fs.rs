//! `mcpwall fs`: the hardened filesystem server (see `mcpwall-fs`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcpwall_fs::{Caps, Links, Server};

use crate::cli::{FsArgs, Symlinks};

pub(crate) fn run(args: FsArgs) -> anyhow::Result<ExitCode> {
    if args.allow_destructive && !args.allow_write {
        bail!("--allow-destructive needs --allow-write");
    }
    let mut caps = Caps::default();
    if let Some(n) = args.max_file_size {
        caps.max_file = n;
    }
    let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = args.max_batch {
        caps.max_batch = count(n);
    }
    if let Some(n) = args.max_depth {
        caps.max_depth = count(n);
    }
    if let Some(n) = args.max_entries {
        caps.max_entries = count(n);
    }
    if let Some(n) = args.walk_seconds {
        caps.walk_time = std::time::Duration::from_secs(n.into());
    }
    if let Some(n) = args.rate {
        caps.rate = n.into();
    }
    if let Some(n) = args.burst {
        caps.burst = n.into();
    }
    caps.write = args.allow_write;
    caps.destructive = args.allow_destructive;
    caps.links = match args.symlinks {
        Symlinks::Refuse => Links::Refuse,
        Symlinks::Beneath => Links::Beneath,
    };
    // With writes, room for a file's content, escaped: a larger one is refused by the tool,
    // with its code, rather than as a frame. Reads need 1 MiB.
    let max_frame = if caps.write {
        usize::try_from(caps.max_file)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .saturating_add(1 << 20)
    } else {
        1 << 20
    };
    let mut server = Server::open(&args.roots, caps)?;
    // Before serving, and before any thread exists: the process reaches its roots (read-only
    // unless writes are allowed) and nothing else, opens no socket, runs no program.
    let roots = server.real_roots();
    let (ro, rw) = if args.allow_write {
        (Vec::new(), roots)
    } else {
        (roots, Vec::new())
    };
    let mut err = std::io::stderr().lock();
    match mcpwall_sandbox::restrict_self(&ro, &rw) {
        Ok(true) => {}
        Ok(false) => {
            let _ = writeln!(
                err,
                "mcpwall fs: warning: this kernel lacks Landlock signal and socket scoping; the rest is enforced"
            );
        }
        Err(e) if args.allow_unconfined => {
            let _ = writeln!(
                err,
                "mcpwall fs: WARNING: serving without Landlock ({e}): only the server's own checks (and seccomp) stand between a client and the machine"
            );
        }
        Err(e) => bail!(
            "cannot confine the server: {e} (--allow-unconfined serves anyway, not recommended)"
        ),
    }
    drop(err);
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    server
        .serve(stdin.lock(), stdout.lock(), AuditLines::start(), max_frame)
        .context("mcpwall fs")?;
    Ok(ExitCode::SUCCESS)
}

/// The audit lines, written to standard error only when the pipe has room for one now: a
/// client that never reads the server's standard error fills the pipe, and then lines are
/// dropped, never the server blocked. (A line is shorter than the pipe's atomic write size, so
/// a write after the pipe said it is writable does not wait.)
struct AuditLines {
    line: Vec<u8>,
}

impl AuditLines {
    fn start() -> AuditLines {
        AuditLines { line: Vec::new() }
    }
}

impl std::io::Write for AuditLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() || line.len() > 4096 {
            return Ok(());
        }
        let err = std::io::stderr();
        let mut fds = [rustix::event::PollFd::new(
            &err,
            rustix::event::PollFlags::OUT,
        )];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let ready = rustix::event::poll(&mut fds, Some(&zero)).unwrap_or(0) > 0
            && fds[0].revents().contains(rustix::event::PollFlags::OUT);
        if ready {
            let _ = err.lock().write_all(&line);
        }
        Ok(())
    }
}
