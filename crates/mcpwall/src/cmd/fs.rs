//! `mcpwall fs`: the hardened filesystem server (see `mcpwall-fs`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mcpwall_fs::{Caps, Server};

use crate::cli::FsArgs;

/// Largest JSON-RPC message read from the client.
const MAX_FRAME: usize = 1 << 20;

pub(crate) fn run(args: FsArgs) -> anyhow::Result<ExitCode> {
    if args.allow_write {
        bail!(
            "--allow-write: this version of mcpwall fs is read-only (its write tools are not built yet)"
        );
    }
    let mut caps = Caps::default();
    if let Some(n) = args.max_file_size {
        caps.max_file = n;
    }
    let mut server = Server::open(&args.roots, caps)?;
    // Before serving, and before any thread exists: the process reads its roots and nothing
    // else, opens no socket, runs no program.
    let mut err = std::io::stderr().lock();
    match mcpwall_sandbox::restrict_self(&server.real_roots()) {
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
                "mcpwall fs: WARNING: serving UNCONFINED ({e}): only the server's own checks stand between a client and the machine"
            );
        }
        Err(e) => bail!(
            "cannot confine the server: {e} (--allow-unconfined serves anyway, not recommended)"
        ),
    }
    drop(err);
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    server
        .serve(stdin.lock(), stdout.lock(), MAX_FRAME)
        .context("mcpwall fs")?;
    Ok(ExitCode::SUCCESS)
}
