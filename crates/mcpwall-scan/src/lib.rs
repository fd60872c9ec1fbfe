//! `mcpwall scan`: finds the MCP client configurations of a machine (and of a project), reads
//! the servers they declare, and checks each without starting it: packages run unpinned,
//! credentials written into the file, remote servers over plain HTTP, containers with the host's
//! privileges, shell command lines, programs anyone may replace. The report is text for people,
//! JSON (a versioned schema) and SARIF for machines.

pub mod approvals;
pub mod checks;
pub mod clients;
pub mod config;
pub mod flows;
pub mod inspect;
pub mod install;
pub mod introspect;
pub mod pins;
pub mod remote;
pub mod report;
pub mod spans;
pub mod yaml;

use std::path::{Path, PathBuf};

use mcpwall_detect::{Engine, Surface};

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
    // A file reached twice (the project is the home directory; a symlink) is read once.
    let mut seen = std::collections::BTreeSet::new();
    clients::locations(places)
        .into_iter()
        .filter(|l| wanted(l.client))
        .filter(|l| seen.insert(std::fs::canonicalize(&l.path).unwrap_or_else(|_| l.path.clone())))
        .map(|location| {
            let found = read(&location.path, true);
            Source { location, found }
        })
        .collect()
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

/// Every server found, in the order the report lists them.
pub fn entries(sources: &[Source]) -> Vec<&ServerEntry> {
    sources
        .iter()
        .filter_map(|s| match &s.found {
            Found::Servers(e) => Some(e),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Whether to start a server to list what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Start,
    /// Not started, and why.
    Skip(String),
}

/// How servers are started for inspection.
pub struct Starter<'a> {
    /// For the whole session of one server, start to stop.
    pub timeout: std::time::Duration,
    /// Servers started at once.
    pub parallel: usize,
    /// The command line that starts a stdio entry (the sandbox in front, as the caller
    /// chooses). Remote entries are reached by [`remote::introspect`].
    pub spawn: &'a (dyn Fn(&ServerEntry) -> Result<introspect::Spawn, String> + Sync),
    /// Told after each server: (done, total).
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
    /// Whether variables in remote servers' headers are filled in from the environment (see
    /// [`remote::Remote::fill_variables`]).
    pub header_variables: bool,
}

impl std::fmt::Debug for Starter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starter")
            .field("timeout", &self.timeout)
            .field("parallel", &self.parallel)
            .field("header_variables", &self.header_variables)
            .finish_non_exhaustive()
    }
}

/// Starts the servers `decide` lets through (connects to remote ones), lists what each offers, and adds to the report
/// the engine's findings on their definitions and the issues across each client's servers.
pub fn inspect_servers(
    engine: &Engine,
    report: &mut Report,
    sources: &[Source],
    decide: &(dyn Fn(&ServerEntry) -> Decision + Sync),
    starter: &Starter<'_>,
) -> Vec<Option<introspect::Listing>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let entries = entries(sources);
    let decisions: Vec<Decision> = entries.iter().map(|e| decide(e)).collect();
    let to_start: Vec<usize> = (0..entries.len())
        .filter(|&i| decisions[i] == Decision::Start)
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = to_start.len();
    let work = || {
        let mut out = Vec::new();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = to_start.get(n) else {
                return out;
            };
            let result = match &entries[i].transport {
                Transport::Http {
                    url,
                    headers,
                    protocol,
                    ..
                } => {
                    let r = remote::Remote {
                        url,
                        headers,
                        protocol: *protocol,
                        fill_variables: starter.header_variables,
                    };
                    remote::introspect(&r, starter.timeout).map_err(|f| f.why)
                }
                Transport::Stdio { .. } => (starter.spawn)(entries[i]).and_then(|spawn| {
                    introspect::introspect(&spawn, starter.timeout)
                        .map_err(|f| format!("{}\u{0}{}", f.why, f.stderr))
                }),
            };
            let issues: Vec<Issue> = match &result {
                Ok(listing) => inspect::definitions(engine, listing)
                    .into_iter()
                    .map(|i| report::redacted(engine, i))
                    .collect(),
                Err(_) => Vec::new(),
            };
            (starter.progress)(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            out.push((i, result, issues));
        }
    };
    let results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..starter.parallel.clamp(1, 16))
            .map(|_| scope.spawn(work))
            .collect();
        let mut all = work();
        for h in helpers {
            if let Ok(r) = h.join() {
                all.extend(r);
            }
        }
        all
    });
    let redact = |s: &str| engine.redact(Surface::Config, s).text.into_owned();
    let mut listings: Vec<Option<introspect::Listing>> = vec![None; entries.len()];
    for (i, d) in decisions.iter().enumerate() {
        if let Decision::Skip(why) = d {
            report.servers[i].inspection = Some(report::Inspection {
                status: "skipped",
                reason: Some(why.clone()),
                ..report::Inspection::default()
            });
        }
    }
    for (i, result, issues) in results {
        let srv = &mut report.servers[i];
        srv.inspection = Some(match result {
            Ok(l) => {
                let names = |v: &[serde_json::Value]| -> Vec<String> {
                    v.iter()
                        .filter_map(|t| t["name"].as_str().map(str::to_owned))
                        .collect()
                };
                let inspection = report::Inspection {
                    status: "listed",
                    server: l.server.clone(),
                    protocol_version: l.protocol_version.clone(),
                    tools: names(&l.tools),
                    prompts: names(&l.prompts),
                    resources: l.resources.len(),
                    resource_templates: l.templates.len(),
                    instructions: l.instructions.is_some(),
                    ..report::Inspection::default()
                };
                listings[i] = Some(l);
                inspection
            }
            Err(e) => {
                let (why, stderr) = e.split_once('\u{0}').unwrap_or((e.as_str(), ""));
                srv.issues.push(Issue {
                    id: "scan.not_inspected".into(),
                    severity: mcpwall_detect::Severity::Low,
                    message: format!(
                        "the server could not be reached and listed ({}): its tools were not checked",
                        redact(why)
                    ),
                    fix: "make it start (its standard error is shown), or remove it if it is unused".into(),
                    excerpt: None,
                });
                report::Inspection {
                    status: "failed",
                    reason: Some(redact(why)),
                    stderr: Some(redact(stderr)),
                    ..report::Inspection::default()
                }
            }
        });
        srv.issues.extend(issues);
    }
    // Across the listed servers of each client.
    let mut clients: Vec<&'static str> = report.servers.iter().map(|s| s.client).collect();
    clients.sort_unstable();
    clients.dedup();
    for client in clients {
        let members: Vec<usize> = (0..entries.len())
            .filter(|&i| report.servers[i].client == client && listings[i].is_some())
            .collect();
        let named: Vec<(&str, &introspect::Listing)> = members
            .iter()
            .filter_map(|&i| Some((entries[i].name.as_str(), listings[i].as_ref()?)))
            .collect();
        for (k, issues) in inspect::across(&named).into_iter().enumerate() {
            report.servers[members[k]]
                .issues
                .extend(issues.into_iter().map(|i| report::redacted(engine, i)));
        }
    }
    report.finish();
    listings
}
