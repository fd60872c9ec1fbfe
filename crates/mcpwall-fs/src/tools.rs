//! The tools, with the names and argument shapes of the reference filesystem server, so that
//! a client's configuration can switch servers without other changes (those that write are in
//! `writes`).

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustix::fs::{Dir, FileType};
use serde_json::{Map, Value, json};

use crate::denial::{Code, Denial};
use crate::open::{self, Root};
use crate::path::{self, shown};
use crate::writes;
use mcpwall_policy::glob;

/// Limits, with safe defaults (see [`Caps::default`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caps {
    /// Bytes of the largest file read.
    pub max_file: u64,
    /// Paths in one `read_multiple_files`.
    pub max_batch: usize,
    /// Levels a tree or a search goes down.
    pub max_depth: usize,
    /// Entries a listing, tree or search reports.
    pub max_entries: usize,
    /// How long a tree or search may take.
    pub walk_time: Duration,
    /// Tool calls a second, on average.
    pub rate: f64,
    /// Tool calls in a burst.
    pub burst: f64,
    /// The tools that write are offered.
    pub write: bool,
    /// `move_file` is offered too.
    pub destructive: bool,
    /// Symlinks in the paths of the tools that read: refused, or followed beneath the root.
    pub links: crate::Links,
}

impl Default for Caps {
    /// 10 MiB files, 64 paths a batch, 32 levels, 10,000 entries, 5 s walks, 20 calls a
    /// second in bursts of 100.
    fn default() -> Self {
        Caps {
            max_file: 10 << 20,
            max_batch: 64,
            max_depth: 32,
            max_entries: 10_000,
            walk_time: Duration::from_secs(5),
            rate: 20.0,
            burst: 100.0,
            write: false,
            destructive: false,
            links: crate::Links::Refuse,
        }
    }
}

/// The server's state: its roots (their handles), its caps and the rate bucket.
#[derive(Debug)]
pub(crate) struct Fs {
    /// The roots given at start: the most the server may ever reach.
    configured: Vec<Root>,
    /// The roots in force: the configured ones, or those of the client's (MCP roots) that lie
    /// inside them.
    roots: Vec<Root>,
    caps: Caps,
    tokens: f64,
    refilled: Instant,
}

/// Tool definitions: name, description, input schema.
const TOOLS: &[(&str, &str, &str)] = &[
    (
        "read_text_file",
        "Read a text file inside the allowed directories. `head` or `tail`: only the first or last N lines.",
        r#"{"type":"object","properties":{"path":{"type":"string"},"head":{"type":"number"},"tail":{"type":"number"}},"required":["path"]}"#,
    ),
    (
        "read_media_file",
        "Read an image or audio file inside the allowed directories, as base64 with its MIME type.",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
    ),
    (
        "read_multiple_files",
        "Read several text files at once; a file that cannot be read gets its error in the answer, the others their text.",
        r#"{"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"}}},"required":["paths"]}"#,
    ),
    (
        "list_directory",
        "List a directory's entries, each marked [FILE], [DIR], [LINK] (a symbolic link, not followed) or [OTHER].",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
    ),
    (
        "list_directory_with_sizes",
        "List a directory's entries with the sizes of its files (symbolic links are not followed and get no size).",
        r#"{"type":"object","properties":{"path":{"type":"string"},"sortBy":{"type":"string","enum":["name","size"]}},"required":["path"]}"#,
    ),
    (
        "directory_tree",
        "A directory's tree as JSON: entries with name, type and (directories) children. Symbolic links are listed, never descended.",
        r#"{"type":"object","properties":{"path":{"type":"string"},"excludePatterns":{"type":"array","items":{"type":"string"}}},"required":["path"]}"#,
    ),
    (
        "search_files",
        "Find files and directories under a directory whose path relative to it matches a glob (`*` any characters, `?` one).",
        r#"{"type":"object","properties":{"path":{"type":"string"},"pattern":{"type":"string"},"excludePatterns":{"type":"array","items":{"type":"string"}}},"required":["path","pattern"]}"#,
    ),
    (
        "get_file_info",
        "Size, times, type and permissions of a file or directory (of a symbolic link itself, never its target).",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
    ),
    (
        "list_allowed_directories",
        "The directories this server may read.",
        r#"{"type":"object","properties":{}}"#,
    ),
];

/// The tools that write (with `--allow-write`); the last, `move_file`, needs
/// `--allow-destructive` too.
const WRITE_TOOLS: &[(&str, &str, &str)] = &[
    (
        "write_file",
        "Create a file, or replace one, with the given content (written whole, then renamed into place).",
        r#"{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}"#,
    ),
    (
        "edit_file",
        "Replace text in a file: each edit's oldText (which must occur) by its newText, in order. Answers with a diff; dryRun writes nothing.",
        r#"{"type":"object","properties":{"path":{"type":"string"},"edits":{"type":"array","items":{"type":"object","properties":{"oldText":{"type":"string"},"newText":{"type":"string"}},"required":["oldText","newText"]}},"dryRun":{"type":"boolean"}},"required":["path","edits"]}"#,
    ),
    (
        "create_directory",
        "Create a directory, and those missing on the way.",
        r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#,
    ),
    (
        "move_file",
        "Move or rename a file or directory within the allowed directories; never over an existing name.",
        r#"{"type":"object","properties":{"source":{"type":"string"},"destination":{"type":"string"}},"required":["source","destination"]}"#,
    ),
];

/// The tools offered under `caps`.
fn offered(
    caps: &Caps,
) -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    let writes = if !caps.write {
        0
    } else if caps.destructive {
        WRITE_TOOLS.len()
    } else {
        WRITE_TOOLS.len() - 1
    };
    TOOLS.iter().chain(&WRITE_TOOLS[..writes])
}

/// The `tools/list` result.
pub(crate) fn list(caps: &Caps) -> Value {
    let tools: Vec<Value> = offered(caps)
        .map(|(name, description, schema)| {
            let schema: Value =
                serde_json::from_str(schema).unwrap_or_else(|_| json!({"type": "object"}));
            let read_only = TOOLS.iter().any(|(n, ..)| n == name);
            json!({"name": name, "description": description, "inputSchema": schema,
                   "annotations": {"readOnlyHint": read_only, "destructiveHint": !read_only && *name != "create_directory",
                                   "openWorldHint": false}})
        })
        .collect();
    json!({ "tools": tools })
}

fn text(t: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": t.into()}]})
}

fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, Denial> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| {
        Denial::new(
            Code::InvalidPath,
            format!("the argument `{key}` must be a string"),
        )
    })
}

/// Exclusion patterns: at most this many are used (each is tried on every entry).
const MAX_PATTERNS: usize = 64;

fn patterns(args: &Value) -> Vec<String> {
    args.get("excludePatterns")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(MAX_PATTERNS)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A directory entry's name as text: UTF-8 as is, other bytes escaped as `\xNN` (and a
/// backslash as `\\`), so that no two names look alike.
fn name_text(name: &CStr) -> String {
    // Escaped too: control characters (a newline would fake a listing line) and bidirectional
    // or zero-width marks (which hide an extension).
    let plain = |c: char| c != '\\' && !c.is_control() && !path::invisible(c);
    match name.to_str() {
        Ok(s) if s.chars().all(plain) => s.to_owned(),
        _ => {
            let mut out = String::new();
            for chunk in name.to_bytes().utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else if plain(c) {
                        out.push(c);
                    } else {
                        out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
                    }
                }
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// One directory entry: name, type, and size for a regular file.
struct Entry {
    name: String,
    raw: std::ffi::CString,
    kind: FileType,
    size: Option<u64>,
}

/// The entries of an open directory (not `.` and `..`), sorted by name, at most `max`; and
/// whether there were more.
fn entries(dir: &OwnedFd, max: usize, sizes: bool) -> Result<(Vec<Entry>, bool), Denial> {
    let io = |e: rustix::io::Errno| Denial::new(Code::Io, format!("listing failed: {}", e.kind()));
    let mut out = Vec::new();
    let mut more = false;
    for entry in Dir::read_from(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let raw = entry.file_name();
        if raw.to_bytes() == b"." || raw.to_bytes() == b".." {
            continue;
        }
        if out.len() == max {
            more = true;
            break;
        }
        let mut kind = entry.file_type();
        let mut size = None;
        if (kind == FileType::Unknown || (sizes && kind == FileType::RegularFile))
            && let Some(st) = open::entry_stat(dir, raw)
        {
            kind = FileType::from_raw_mode(st.st_mode);
            // A file with other names may be one outside: its size is not told.
            if kind == FileType::RegularFile && st.st_nlink == 1 {
                size = u64::try_from(st.st_size).ok();
            }
        }
        out.push(Entry {
            name: name_text(raw),
            raw: raw.to_owned(),
            kind,
            size,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, more))
}

fn mark(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "[FILE]",
        FileType::Directory => "[DIR]",
        FileType::Symlink => "[LINK]",
        _ => "[OTHER]",
    }
}

impl Fs {
    pub(crate) fn new(configured: Vec<Root>, caps: Caps) -> Self {
        let roots = configured.iter().filter_map(Root::duplicate).collect();
        Fs {
            configured,
            roots,
            caps,
            tokens: caps.burst,
            refilled: Instant::now(),
        }
    }

    /// The limits and what is offered.
    pub(crate) fn caps(&self) -> &Caps {
        &self.caps
    }

    /// The configured roots' real paths.
    pub(crate) fn real_roots(&self) -> Vec<PathBuf> {
        self.configured
            .iter()
            .map(|r| r.names.real.clone())
            .collect()
    }

    /// The client's roots (`file://` URIs) in force from now on, each narrowed to lie inside a
    /// configured root: one outside them all, or not a local path, is left out (never a
    /// widening). A list with none left leaves the server nothing to serve. Returns how many
    /// are in force.
    pub(crate) fn narrow(&mut self, uris: &[&str]) -> usize {
        let names: Vec<&path::RootNames> = self.configured.iter().map(|r| &r.names).collect();
        let mut roots = Vec::new();
        for uri in uris {
            let Some(p) = path::file_uri(uri) else {
                continue;
            };
            // Only absolute paths: a relative one would be taken from the first root.
            let Some((k, rel)) = p
                .starts_with('/')
                .then(|| path::check(&p, &names).ok())
                .flatten()
            else {
                continue;
            };
            let base = &self.configured[k];
            if let Ok(fd) = open::dir(base, &rel, "", open::Links::Refuse) {
                roots.push(Root {
                    names: path::RootNames {
                        given: PathBuf::from(&p),
                        real: base.names.real.join(&rel),
                    },
                    fd,
                });
            }
        }
        self.roots = roots;
        self.roots.len()
    }

    /// The roots' given names, for `list_allowed_directories`.
    pub(crate) fn root_names(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.names.given.as_path())
    }

    /// The result of a `tools/call` (a refusal is a tool error with its code); `None` for a
    /// tool this server does not have.
    pub(crate) fn call(&mut self, name: &str, args: &Value) -> Option<Value> {
        if !offered(&self.caps).any(|(n, ..)| *n == name) {
            return None;
        }
        if let Err(d) = self.take_token() {
            return Some(d.result());
        }
        let r = match name {
            "read_text_file" => self.read_text_file(args),
            "read_media_file" => self.read_media_file(args),
            "read_multiple_files" => self.read_multiple_files(args),
            "list_directory" => self.list_directory(args, false),
            "list_directory_with_sizes" => self.list_directory(args, true),
            "directory_tree" => self.directory_tree(args),
            "search_files" => self.search_files(args),
            "get_file_info" => self.get_file_info(args),
            "write_file" => self.write(args, |root, rel, shown, max| {
                let content = string_arg(args, "content")?;
                writes::write_file(root, rel, shown, content, max)
            }),
            "edit_file" => self.write(args, |root, rel, shown, max| {
                writes::edit_file(root, rel, shown, args, max)
            }),
            "create_directory" => self.write(args, |root, rel, shown, _| {
                writes::create_directory(root, rel, shown)
            }),
            "move_file" => self.move_file(args),
            _ => Ok(text(format!(
                "Allowed directories:\n{}",
                self.root_names()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ))),
        };
        Some(r.unwrap_or_else(|d| d.result()))
    }

    fn take_token(&mut self) -> Result<(), Denial> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.caps.rate).min(self.caps.burst);
        if self.tokens < 1.0 {
            let wait = ((1.0 - self.tokens) / self.caps.rate * 1000.0).ceil();
            return Err(Denial::new(
                Code::RateLimited,
                format!("too many calls; retry after {wait} ms"),
            ));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// The root and relative path a path argument names, and how to show it.
    fn place(&self, path: &str) -> Result<(&Root, PathBuf, String), Denial> {
        let names: Vec<&path::RootNames> = self.roots.iter().map(|r| &r.names).collect();
        let (k, rel) = path::check(path, &names)?;
        // Messages name it relative to its root: no host path of the server's in them.
        let shown = if rel.as_os_str().is_empty() {
            "(the root)".to_owned()
        } else {
            shown(&rel.to_string_lossy())
        };
        Ok((&self.roots[k], rel, shown))
    }

    /// A write tool on the `path` argument.
    fn write(
        &self,
        args: &Value,
        tool: impl FnOnce(&Root, &Path, &str, u64) -> Result<Value, Denial>,
    ) -> Result<Value, Denial> {
        let (root, rel, shown) = self.place(string_arg(args, "path")?)?;
        tool(root, &rel, &shown, self.caps.max_file)
    }

    fn move_file(&self, args: &Value) -> Result<Value, Denial> {
        let (r1, rel1, shown1) = self.place(string_arg(args, "source")?)?;
        let (r2, rel2, shown2) = self.place(string_arg(args, "destination")?)?;
        writes::move_file((r1, &rel1, &shown1), (r2, &rel2, &shown2))
    }

    fn read_bytes(&self, path: &str) -> Result<Vec<u8>, Denial> {
        let (root, rel, shown) = self.place(path)?;
        let (file, _) = open::file(root, &rel, &shown, self.caps.max_file, self.caps.links)?;
        open::read(file, &shown, self.caps.max_file)
    }

    fn read_text_file(&self, args: &Value) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let count = |k: &str| {
            args.get(k)
                .and_then(Value::as_f64)
                .map(|n| n.max(0.0) as usize)
        };
        let (head, tail) = (count("head"), count("tail"));
        if head.is_some() && tail.is_some() {
            return Err(Denial::new(
                Code::InvalidPath,
                "give `head` or `tail`, not both",
            ));
        }
        let bytes = self.read_bytes(path)?;
        let s = String::from_utf8_lossy(&bytes);
        let out = match (head, tail) {
            (Some(n), _) => s.split_inclusive('\n').take(n).collect::<String>(),
            (_, Some(n)) => {
                // From the end: where the n-th line before it starts (no list of every line).
                let body = s.strip_suffix('\n').unwrap_or(&s);
                let start = if n == 0 {
                    s.len()
                } else {
                    body.rmatch_indices('\n')
                        .nth(n - 1)
                        .map_or(0, |(i, _)| i + 1)
                };
                s[start..].to_owned()
            }
            _ => s.into_owned(),
        };
        Ok(text(out))
    }

    fn read_media_file(&self, args: &Value) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let bytes = self.read_bytes(path)?;
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let (kind, mime) = match ext.as_str() {
            "png" => ("image", "image/png"),
            "jpg" | "jpeg" => ("image", "image/jpeg"),
            "gif" => ("image", "image/gif"),
            "webp" => ("image", "image/webp"),
            "bmp" => ("image", "image/bmp"),
            "svg" => ("image", "image/svg+xml"),
            "mp3" => ("audio", "audio/mpeg"),
            "wav" => ("audio", "audio/wav"),
            "ogg" => ("audio", "audio/ogg"),
            "flac" => ("audio", "audio/flac"),
            _ => ("blob", "application/octet-stream"),
        };
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(json!({"content": [{"type": kind, "data": data, "mimeType": mime}]}))
    }

    fn read_multiple_files(&self, args: &Value) -> Result<Value, Denial> {
        let paths = args
            .get("paths")
            .and_then(Value::as_array)
            .ok_or_else(|| Denial::new(Code::InvalidPath, "the argument `paths` must be a list"))?;
        if paths.len() > self.caps.max_batch {
            return Err(Denial::new(
                Code::LimitExceeded,
                format!(
                    "{} paths; at most {} at once",
                    paths.len(),
                    self.caps.max_batch
                ),
            ));
        }
        let mut parts = Vec::new();
        let mut total = 0u64;
        for p in paths {
            let Some(p) = p.as_str() else {
                parts.push("(not a string): Error - paths are strings".to_owned());
                continue;
            };
            match self.read_bytes(p) {
                Ok(b) if total.saturating_add(b.len() as u64) > self.caps.max_file => {
                    parts.push(format!(
                        "{}: Error - the answer would pass the size limit (too_large)",
                        shown(p)
                    ));
                }
                Ok(b) => {
                    total += b.len() as u64;
                    parts.push(format!("{}:\n{}\n", shown(p), String::from_utf8_lossy(&b)));
                }
                Err(d) => parts.push(format!(
                    "{}: Error - {} ({})",
                    shown(p),
                    d.message,
                    d.code.as_str()
                )),
            }
        }
        Ok(text(parts.join("\n---\n")))
    }

    fn list_directory(&self, args: &Value, sizes: bool) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let (root, rel, shown) = self.place(path)?;
        let dir = open::dir(root, &rel, &shown, self.caps.links)?;
        let (mut list, more) = entries(&dir, self.caps.max_entries, sizes)?;
        if sizes && args.get("sortBy").and_then(Value::as_str) == Some("size") {
            list.sort_by_key(|e| std::cmp::Reverse(e.size.unwrap_or(0)));
        }
        let mut lines: Vec<String> = list
            .iter()
            .map(|e| match (sizes, e.size) {
                (true, Some(s)) => format!("{} {:<30} {s} bytes", mark(e.kind), e.name),
                _ => format!("{} {}", mark(e.kind), e.name),
            })
            .collect();
        if sizes {
            let files = list
                .iter()
                .filter(|e| e.kind == FileType::RegularFile)
                .count();
            let dirs = list
                .iter()
                .filter(|e| e.kind == FileType::Directory)
                .count();
            let bytes = list
                .iter()
                .filter_map(|e| e.size)
                .fold(0u64, u64::saturating_add);
            lines.push(String::new());
            lines.push(format!(
                "Total: {files} files, {dirs} directories, {bytes} bytes"
            ));
        }
        if more {
            lines.push(format!(
                "(truncated: more than {} entries)",
                self.caps.max_entries
            ));
        }
        Ok(text(lines.join("\n")))
    }

    fn directory_tree(&self, args: &Value) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let (root, rel, shown) = self.place(path)?;
        let dir = open::dir(root, &rel, &shown, self.caps.links)?;
        let mut walk = Walk::new(&self.caps, patterns(args));
        let tree = walk.tree(&dir, "", 0);
        let mut out = Map::new();
        out.insert("tree".into(), Value::Array(tree));
        if walk.truncated {
            out.insert("truncated".into(), Value::Bool(true));
        }
        let body = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default();
        Ok(
            json!({"content": [{"type": "text", "text": body}], "structuredContent": {"truncated": walk.truncated}}),
        )
    }

    fn search_files(&self, args: &Value) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let pattern = string_arg(args, "pattern")?;
        let (root, rel, shown) = self.place(path)?;
        let dir = open::dir(root, &rel, &shown, self.caps.links)?;
        let mut walk = Walk::new(&self.caps, patterns(args));
        walk.search = Some(pattern.to_owned());
        walk.tree(&dir, "", 0);
        let base = root.names.given.join(&rel);
        let mut lines: Vec<String> = walk
            .found
            .iter()
            .map(|r| base.join(r).display().to_string())
            .collect();
        if lines.is_empty() {
            lines.push("No matches found".to_owned());
        }
        if walk.truncated {
            lines.push("(truncated: the search reached a limit)".to_owned());
        }
        Ok(text(lines.join("\n")))
    }

    fn get_file_info(&self, args: &Value) -> Result<Value, Denial> {
        let path = string_arg(args, "path")?;
        let (root, rel, shown) = self.place(path)?;
        let st = open::stat(root, &rel, &shown, self.caps.links)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut lines = vec![format!("type: {}", open::kind(kind))];
        // A link's own size is its target's length: not shown, like the target itself; nor
        // the size and times of a file with other names (one may lie outside).
        let linked = kind == FileType::RegularFile && st.st_nlink > 1;
        if linked {
            lines.push("hardlink: true".to_owned());
        }
        if kind != FileType::Symlink && !linked {
            lines.push(format!("size: {}", st.st_size));
            lines.push(format!("modified: {}", st.st_mtime));
            lines.push(format!("accessed: {}", st.st_atime));
            lines.push(format!("changed: {}", st.st_ctime));
        }
        lines.push(format!("isDirectory: {}", kind == FileType::Directory));
        lines.push(format!("isFile: {}", kind == FileType::RegularFile));
        lines.push(format!("permissions: {:o}", st.st_mode & 0o7777));
        Ok(text(lines.join("\n")))
    }
}

/// A bounded walk of a directory (a tree, or a search): depth, entries and time capped.
struct Walk {
    max_depth: usize,
    max_entries: usize,
    deadline: Instant,
    exclude: Vec<String>,
    search: Option<String>,
    seen: usize,
    pending: usize,
    truncated: bool,
    found: Vec<String>,
}

impl Walk {
    fn new(caps: &Caps, exclude: Vec<String>) -> Self {
        Walk {
            max_depth: caps.max_depth,
            max_entries: caps.max_entries,
            deadline: Instant::now() + caps.walk_time,
            exclude,
            search: None,
            seen: 0,
            pending: 0,
            truncated: false,
            found: Vec::new(),
        }
    }

    /// The entries under `dir` (at `prefix`, `depth` levels down). Recursion is bounded by
    /// `max_depth`.
    fn tree(&mut self, dir: &OwnedFd, prefix: &str, depth: usize) -> Vec<Value> {
        // Entries read but not yet walked (those of the directories above) count too: what is
        // held at once stays within the cap.
        let left = self.max_entries.saturating_sub(self.seen + self.pending);
        let Ok((list, more)) = entries(dir, left, false) else {
            return Vec::new();
        };
        self.truncated |= more;
        self.pending += list.len();
        let mut out = Vec::new();
        for e in list {
            self.pending -= 1;
            if self.seen >= self.max_entries || Instant::now() > self.deadline {
                self.truncated = true;
                break;
            }
            let rel = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            if self
                .exclude
                .iter()
                .any(|p| glob(p, &rel) || glob(p, &e.name))
            {
                continue;
            }
            self.seen += 1;
            if let Some(p) = &self.search
                && (glob(p, &rel) || glob(p, &e.name))
            {
                self.found.push(rel.clone());
            }
            let mut node = json!({"name": e.name, "type": open::kind(e.kind)});
            if e.kind == FileType::Directory {
                if depth + 1 >= self.max_depth {
                    self.truncated = true;
                } else if let Ok(sub) = open::subdir(dir, &e.raw, &rel) {
                    node["children"] = Value::Array(self.tree(&sub, &rel, depth + 1));
                }
            }
            out.push(node);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("**/secret*", "a/b/secret.txt"));
        assert!(glob("*.txt", "ok.txt"));
        assert!(!glob("*.txt", "ok.md"));
        assert!(glob("?k.txt", "ok.txt"));
        // Many stars against a long name: still fast (one backtrack point).
        let long = "a".repeat(10_000);
        assert!(!glob("**/**/**/**/**/**/**/**/*b", &long));
    }

    #[test]
    fn names_are_escaped_losslessly() {
        let n = std::ffi::CString::new(b"bad\xff".to_vec()).expect("no NUL");
        assert_eq!(name_text(&n), "bad\\xff");
        let n = std::ffi::CString::new(b"a\\xff".to_vec()).expect("no NUL");
        assert_eq!(name_text(&n), "a\\\\xff");
        // A newline would fake a listing line; a right-to-left mark would hide an extension.
        let n = std::ffi::CString::new("a\n[DIR] fake".as_bytes().to_vec()).expect("no NUL");
        assert_eq!(name_text(&n), "a\\u{000a}[DIR] fake");
        let n = std::ffi::CString::new("x\u{202E}txt.exe".as_bytes().to_vec()).expect("no NUL");
        assert_eq!(name_text(&n), "x\\u{202e}txt.exe");
    }
}
