//! `mcpwall fs`: a filesystem MCP server that cannot be walked out of its roots.
//!
//! Each root is opened once, at start, as a directory handle; every path is first judged as
//! text (`path`: no `..`, no control or bidirectional characters, no prefix tricks), then
//! resolved by the kernel beneath that handle without following any symlink (`open`), and the
//! handle that was checked (a regular file with one link, under the size cap) is the one read.
//! Refusals carry stable codes (`denial`). The tools that write (`writes`) are offered only when
//! asked for.

pub mod denial;
mod open;
pub mod path;
mod server;
mod tools;
mod writes;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

pub use open::Links;
pub use tools::Caps;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    #[error("no --root given: the server would have nothing to serve")]
    NoRoot,
    #[error("root {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("standard input or output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A server over `roots`, opened now.
#[derive(Debug)]
pub struct Server(tools::Fs);

impl Server {
    pub fn open(roots: &[PathBuf], caps: Caps) -> Result<Server, FsError> {
        if roots.is_empty() {
            return Err(FsError::NoRoot);
        }
        let mut opened = Vec::new();
        for given in roots {
            let err = |source: std::io::Error| FsError::Root {
                path: given.clone(),
                source,
            };
            let abs = std::path::absolute(given).map_err(err)?;
            // `..` or a name that is not UTF-8 in the root as given would make a path in a call
            // name another place than the one served.
            if abs
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
                || abs.to_str().is_none()
            {
                return Err(err(std::io::Error::other(
                    "give the root without `..` and in UTF-8",
                )));
            }
            let real = std::fs::canonicalize(&abs).map_err(err)?;
            let fd = rustix::fs::open(
                &real,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| err(e.into()))?;
            opened.push(open::Root {
                names: path::RootNames { given: abs, real },
                fd,
            });
        }
        Ok(Server(tools::Fs::new(opened, caps)))
    }

    /// The roots' real paths (for confining the process to them).
    pub fn real_roots(&self) -> Vec<PathBuf> {
        self.0.real_roots()
    }

    /// Serves one client on `input` and `output` until it closes its side, recording each
    /// tool call on `audit` (JSON lines).
    pub fn serve(
        &mut self,
        input: impl BufRead,
        output: impl Write,
        audit: impl Write,
        max_frame: usize,
    ) -> Result<(), FsError> {
        server::serve(&mut self.0, input, output, audit, max_frame).map_err(FsError::Io)
    }
}
