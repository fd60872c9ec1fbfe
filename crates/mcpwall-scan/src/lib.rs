//! `mcpwall scan`: finds the MCP client configurations of a machine (and of a project), reads
//! the servers they declare, and checks each without starting it: packages run unpinned,
//! credentials written into the file, remote servers over plain HTTP, containers with the host's
//! privileges, shell command lines, programs anyone may replace. The report is text for people,
//! JSON (a versioned schema) and SARIF for machines.

pub mod checks;
pub mod clients;
pub mod config;
pub mod report;

use std::path::{Path, PathBuf};

use mcpwall_detect::Engine;

pub use checks::Issue;
pub use clients::{Location, Os, Places};
pub use config::{ServerEntry, Transport};
pub use report::Report;

/// Configuration files larger than this are refused (no client writes one).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// What was found at one place.
#[derive(Clone, Debug)]
pub enum Found {
    /// No file there.
    Absent,
    /// A file whose format is not read yet (Continue's YAML).
    Unread,
    /// A file that could not be read or parsed.
    Error(String),
    Servers(Vec<ServerEntry>),
}

/// A place looked at, and what it held.
#[derive(Clone, Debug)]
pub struct Source {
    pub location: Location,
    pub found: Found,
}

/// Reads every known place (those of `clients` only, when given).
pub fn discover(places: &Places, clients: &[String]) -> Vec<Source> {
    let wanted = |c: &str| clients.is_empty() || clients.iter().any(|w| w == c);
    let mut out: Vec<Source> = clients::locations(places)
        .into_iter()
        .filter(|l| wanted(l.client))
        .map(|location| {
            let found = read(&location.path, true);
            Source { location, found }
        })
        .collect();
    out.extend(
        clients::unread(places)
            .into_iter()
            .filter(|l| wanted(l.client))
            .map(|location| Source {
                location,
                found: Found::Unread,
            }),
    );
    out
}

/// Reads files named by the user (scope `given`): a missing one is an error.
pub fn discover_files(paths: &[PathBuf]) -> Vec<Source> {
    paths
        .iter()
        .map(|path| Source {
            location: Location {
                client: "file",
                scope: "given",
                path: path.clone(),
            },
            found: read(path, false),
        })
        .collect()
}

/// The servers of the file at `path`. `optional`: a missing file is [`Found::Absent`], not an
/// error.
fn read(path: &Path, optional: bool) -> Found {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return Found::Absent,
        Err(e) => return Found::Error(e.to_string()),
    };
    if !meta.is_file() {
        return Found::Error("not a regular file".into());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Found::Error(format!("larger than {MAX_CONFIG_BYTES} bytes"));
    }
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return Found::Error("not UTF-8".into()),
        },
        Err(e) => return Found::Error(e.to_string()),
    };
    match config::parse(&text, config::Format::of(path)) {
        Ok(s) => Found::Servers(s),
        Err(e) => Found::Error(e.to_string()),
    }
}

/// Checks every server found and builds the report. `path_var`: the `PATH` bare commands are
/// looked up in (for the permission check).
pub fn scan(engine: &Engine, sources: &[Source], path_var: Option<&str>) -> Report {
    report::build(engine, sources, |entry| {
        checks::check(engine, entry, path_var)
    })
}
