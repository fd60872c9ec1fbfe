//! Confining a command before it runs: what `mcpwall sandbox` does, and what the gateway uses
//! for the stdio servers it launches when the policy says so.
//!
//! Everything is applied to the calling process, which then becomes the command (`execve`):
//! the environment is cut down to an allow-list, descriptors inherited from the caller are
//! closed at the exec, resource limits are set, privileges are frozen (`no_new_privs`), the
//! death of the parent is signalled, Landlock confines the file system (and TCP, signals and
//! abstract sockets where the kernel scopes them), and seccomp filters refuse the system calls
//! an MCP server has no use for (tracing, mounts, namespaces, io_uring, bpf, kernel modules,
//! typing into a terminal, and sockets but those allowed). What was asked and cannot be
//! enforced stops the launch: the command does not run.
//!
//! [`reaper`] is the other half of keeping a server in bounds: what it leaves running when it
//! exits is collected and killed.
//!
//! The calling process must have a single thread: Landlock and seccomp restrict the calling
//! thread (and what it execs), and the kernel here may lack the flag that restricts them all.

#[cfg(target_os = "linux")]
mod caps;
#[cfg(target_os = "linux")]
mod env;
#[cfg(target_os = "linux")]
mod fds;
#[cfg(target_os = "linux")]
mod fs;
#[cfg(target_os = "linux")]
mod limits;
#[cfg(target_os = "linux")]
mod parent;
pub mod reaper;
#[cfg(target_os = "linux")]
mod syscalls;

use std::path::PathBuf;
use std::process::Command;

/// Makes the process that `command` spawns receive SIGKILL when the thread that spawns it
/// exits, and fail to start if that thread's process is already gone. For a server that must
/// not outlive the gateway even when the gateway is killed with SIGKILL. The signal follows
/// the spawning *thread*: spawn from one that lives as long as the child should (the caller of
/// a function that waits for the child, the main thread); not from a thread pool's, whose
/// threads come and go. A child spawned so is forked and exec'd rather than `posix_spawn`ed.
/// Does nothing off Linux.
pub fn dies_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    parent::dies_with_parent(command);
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// What a sandboxed command may do.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Trees it may read and execute from.
    pub read_only: Vec<PathBuf>,
    /// Trees it may read, write, create in and delete from, but not execute from.
    pub read_write: Vec<PathBuf>,
    /// Add the system's read-only trees (programs, libraries, certificates, time zones): what
    /// most interpreters need to start. Those missing on this machine are skipped.
    pub system: bool,
    /// Whether it may use the network (Internet sockets, and netlink for address lookups).
    pub network: bool,
    /// Whether it may open Unix sockets (to local daemons: the user's session bus, a Docker
    /// socket, an SSH agent; each a way out of the sandbox). Socket pairs are always allowed.
    pub unix: bool,
    pub limits: Limits,
    /// Names of environment variables passed on besides the allow-list ([`env::KEPT`]).
    pub keep_env: Vec<String>,
    /// Run the command even when this kernel has no Landlock (the file system then open to
    /// it), with a warning through the notice; the rest is still enforced. Off: no Landlock,
    /// no launch.
    pub allow_degraded: bool,
}

/// Resource limits: each `None` leaves the caller's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of data (heap and other private writable memory: `RLIMIT_DATA`).
    pub memory: Option<u64>,
    /// Processes and threads it may add to those its user runs already.
    pub processes: Option<u64>,
    /// Bytes of the largest file it may write.
    pub file_size: Option<u64>,
    /// Seconds of CPU time.
    pub cpu_seconds: Option<u64>,
    /// Open descriptors.
    pub open_files: Option<u64>,
}

impl Default for Limits {
    /// Generous for a server, tight for a runaway: 4 GiB of data, 256 more processes, files up
    /// to 1 GiB, 1,024 descriptors, no CPU limit (servers run for days), and no core dumps
    /// (always).
    fn default() -> Self {
        Limits {
            memory: Some(4 << 30),
            processes: Some(256),
            file_size: Some(1 << 30),
            cpu_seconds: None,
            open_files: Some(1024),
        }
    }
}

/// Why a command was not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Landlock cannot confine the command: {0}")]
    Landlock(String),
    #[error("the seccomp filter cannot be installed: {0}")]
    Seccomp(String),
    #[error("cannot set the {what} limit: {source}")]
    Limit {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot {what}: {source}")]
    Process {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("the process that started the sandbox is gone")]
    ParentGone,
    #[error("cannot run {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("the sandbox needs Linux (Landlock and seccomp); on macOS see contrib/macos")]
    Unsupported,
}

/// Confines this process as `spec` says and replaces it with `program`: returns only if that
/// fails, before or at the exec, with the reason. `notice` hears of protections this kernel
/// lacks that were only wanted where available (signal and abstract-socket scoping).
#[cfg(target_os = "linux")]
pub fn exec(
    spec: &Spec,
    program: &std::ffi::OsStr,
    args: &[std::ffi::OsString],
    notice: &mut dyn FnMut(&str),
) -> SandboxError {
    match confine(spec, notice) {
        Ok(env) => {
            use std::os::unix::process::CommandExt as _;
            let source = std::process::Command::new(program)
                .args(args)
                .env_clear()
                .envs(env)
                .exec();
            SandboxError::Exec {
                program: program.to_string_lossy().into_owned(),
                source,
            }
        }
        Err(e) => e,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn exec(
    _: &Spec,
    _: &std::ffi::OsStr,
    _: &[std::ffi::OsString],
    _: &mut dyn FnMut(&str),
) -> SandboxError {
    SandboxError::Unsupported
}

/// Everything but the exec, in an order that works: what needs the file system (Landlock's
/// directory handles, the descriptor list) before Landlock shuts it, what needs privileges
/// before they are frozen, seccomp last. Returns the environment to exec with.
#[cfg(target_os = "linux")]
fn confine(
    spec: &Spec,
    notice: &mut dyn FnMut(&str),
) -> Result<Vec<(std::ffi::OsString, std::ffi::OsString)>, SandboxError> {
    let parent = rustix::process::getppid();
    let env = env::kept(std::env::vars_os(), &spec.keep_env);
    let ruleset = match fs::ruleset(spec) {
        Ok(r) => Some(r),
        Err(SandboxError::Landlock(why)) if spec.allow_degraded => {
            notice(&degraded(&why));
            None
        }
        Err(e) => return Err(e),
    };
    let filters = syscalls::filters(spec.network, spec.unix)?;
    limits::apply(&spec.limits)?;
    fds::close_on_exec()?;
    let process = |what| {
        move |e: rustix::io::Errno| SandboxError::Process {
            what,
            source: e.into(),
        }
    };
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(process("ask for a signal when the parent exits"))?;
    // The parent may have exited before the request: then nobody would be told.
    if rustix::process::getppid() != parent {
        return Err(SandboxError::ParentGone);
    }
    rustix::thread::set_no_new_privs(true).map_err(process("set no_new_privs"))?;
    caps::drop_all()?;
    let enforced = match ruleset.map(fs::restrict) {
        Some(Err(SandboxError::Landlock(why))) if spec.allow_degraded => {
            notice(&degraded(&why));
            true
        }
        Some(r) => r?,
        None => true,
    };
    if !enforced {
        notice(
            "this kernel's Landlock lacks some of what the sandbox asks where available (signal \
             and abstract-socket scoping, TCP rules): the command may signal other processes of \
             the user; the rest is enforced",
        );
    }
    syscalls::install(&filters)?;
    Ok(env)
}

/// The warning of a launch without Landlock.
#[cfg(target_os = "linux")]
fn degraded(why: &str) -> String {
    format!(
        "Landlock cannot confine the command ({why}); with --allow-degraded it runs with the \
         WHOLE FILE SYSTEM open to it, as far as its user's permissions go. Seccomp, the limits \
         and the environment are still enforced"
    )
}

/// Confines this process in place, for a server that confines itself (`mcpwall fs`): read
/// access to `read_only`, read and write (not execute) to `read_write`, nothing else of the file
/// system, no sockets, no exec, the same
/// refused system calls as [`exec`] (installed even when Landlock fails, with its error). The
/// process must have one thread. Returns whether every
/// Landlock right was enforced (scoping needs a newer kernel).
#[cfg(target_os = "linux")]
pub fn restrict_self(read_only: &[PathBuf], read_write: &[PathBuf]) -> Result<bool, SandboxError> {
    let spec = Spec {
        read_only: read_only.to_vec(),
        read_write: read_write.to_vec(),
        ..Spec::default()
    };
    let filters = syscalls::filters_for(false, false, false)?;
    rustix::thread::set_no_new_privs(true).map_err(|e| SandboxError::Process {
        what: "set no_new_privs",
        source: e.into(),
    })?;
    caps::drop_all()?;
    // The system calls are refused whatever becomes of Landlock: a caller that goes on
    // without it (`--allow-unconfined`) keeps that much.
    let landlock = fs::ruleset(&spec).and_then(fs::restrict);
    syscalls::install(&filters)?;
    landlock
}

#[cfg(not(target_os = "linux"))]
pub fn restrict_self(_: &[PathBuf], _: &[PathBuf]) -> Result<bool, SandboxError> {
    Err(SandboxError::Unsupported)
}

/// What this kernel can enforce, for `mcpwall sandbox --probe` and the tests.
#[cfg(target_os = "linux")]
pub fn probe() -> String {
    fs::probe()
}

#[cfg(not(target_os = "linux"))]
pub fn probe() -> String {
    "no sandbox on this system (Linux only)".to_owned()
}
