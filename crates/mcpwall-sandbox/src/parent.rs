//! Tying a server's life to the gateway's: when mcpwall is killed with SIGKILL it has no
//! chance to stop the server it wraps, and a server that ignores the end of its input would
//! run on unwatched. The kernel sends the server SIGKILL instead.
//!
//! The request has to be made by the child between fork and exec, which only `pre_exec` can
//! do, and that takes `unsafe`.

#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use rustix::process::{Signal, getpid, getppid, set_parent_process_death_signal};

pub(crate) fn dies_with_parent(command: &mut Command) {
    let parent = getpid();
    let request = move || -> io::Result<()> {
        set_parent_process_death_signal(Some(Signal::KILL))?;
        // The parent may have exited before the request: then no signal would ever come.
        if getppid() != Some(parent) {
            return Err(io::Error::from(rustix::io::Errno::SRCH));
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // work is allowed: it makes two system calls (prctl and getppid, through rustix's direct
    // system calls), reads a copied `Pid`, and builds an `io::Error` from an error number,
    // which allocates nothing. It touches no lock, no allocator and no state shared with
    // other threads of the parent.
    unsafe {
        command.pre_exec(request);
    }
}
