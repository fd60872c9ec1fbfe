//! Descriptors the caller inherited (a terminal, a socket, a file a parent left open): marked
//! close-on-exec, so that the command starts with standard input, output and error only.
//!
//! One of the two places in mcpwall with `unsafe` (the other is `parent.rs`): a descriptor
//! number read from `/proc/self/fd` has no safe handle.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd as _, BorrowedFd};

use rustix::fs::{Dir, Mode, OFlags};
use rustix::io::FdFlags;

use crate::SandboxError;

pub(crate) fn close_on_exec() -> Result<(), SandboxError> {
    let failed = |e: rustix::io::Errno| SandboxError::Process {
        what: "list the open descriptors",
        source: e.into(),
    };
    let dir = rustix::fs::open(
        "/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed)?;
    // The listing reads through this descriptor itself (`read_from` would open another,
    // listed too and closed after).
    let own = dir.as_raw_fd();
    let mut fds = Vec::new();
    for entry in Dir::new(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        if let Some(fd) = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|n| n.parse::<i32>().ok())
            && fd > 2
            && fd != own
        {
            fds.push(fd);
        }
    }
    for fd in fds {
        // SAFETY: `fd` was listed open in /proc/self/fd just now and is not the listing's own
        // descriptor (closed or not, it is skipped). The process has one thread (the
        // precondition of the whole sandbox, see the crate documentation), and nothing between
        // the listing and this borrow closes a descriptor, so `fd` stays open while borrowed.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let flags = rustix::io::fcntl_getfd(fd).map_err(failed)?;
        rustix::io::fcntl_setfd(fd, flags | FdFlags::CLOEXEC).map_err(failed)?;
    }
    Ok(())
}
