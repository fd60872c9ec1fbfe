//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcpwall_detect::{Severity, Surface};

#[derive(Debug, Parser)]
#[command(
    name = "mcpwall",
    version,
    about = "A security firewall for the Model Context Protocol",
    long_about = "mcpwall stands between AI agents and MCP servers. It finds prompt injection, tool \
poisoning, cross-tool shadowing, exfiltration attempts, leaked secrets and personal data in tool \
descriptions, arguments and results, and enforces that on live servers: put `mcpwall run --` \
in front of a server's command in your client's configuration, or serve servers over HTTP with \
`mcpwall serve`.\n\nExit status: \
0 clean, 1 findings at or above the threshold (or changes waiting for approval), 2 usage or input \
error; `run` exits with the server's status, `serve` with 0 when stopped by a signal.",
    after_help = "Examples:\n  mcpwall run --name notes -- npx -y @modelcontextprotocol/server-filesystem ~/notes\n  mcpwall serve --config mcpwall.toml\n  mcpwall pins list\n  mcpwall analyze --demo\n  echo 'Ignore previous instructions' | mcpwall analyze --surface tool_result\n  mcpwall analyze --surface tool_description --format json tools.json\n  mcpwall analyze --jsonl records.jsonl > verdicts.jsonl\n  mcpwall eval labelled.jsonl\n  mcpwall rules list --category secrets"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan a text or JSON document (or a JSON-lines batch) with the detection engine.
    #[command(
        after_help = "Surfaces: tool_description, tool_schema, tool_arguments, tool_result, \
resource, prompt, server_instructions, sampling_request, user_prompt, config.\n\nBatch mode \
(--jsonl): each input line is {\"id\", \"kind\", \"text\"}, where kind is prompt, tool_result, \
tool_description, secret, argument or a surface name; each output line is {\"id\", \"flagged\", \
\"score\", \"severity\", \"categories\", \"rules\"}, in input order. See docs/batch.md.\n\nExit \
status: 0 clean, 1 a finding at or above --fail-on (batch: a flagged record), 2 usage or input error."
    )]
    Analyze(AnalyzeArgs),
    /// Find the MCP servers configured on this machine (and in a project) and check them.
    #[command(
        long_about = "Find the MCP servers configured on this machine and check them (offline with --offline).\n\n\
Reads the configuration files of Claude Desktop, Claude Code (~/.claude.json and a project's \
.mcp.json), Cursor, VS Code (user mcp.json and settings, a workspace's .vscode/mcp.json), \
Windsurf, Gemini CLI, Codex CLI (TOML), Zed, Continue (YAML, JSON), Cline, Roo Code and LM Studio, \
on Linux, macOS or Windows paths, plus any file given with --config. Each server is checked \
without being started: packages run without an exact version (npx -y pkg, uvx pkg), \
credentials written into the file (shown redacted), remote servers over plain http, containers \
run with the host's privileges, network or files, command lines handed to a shell, programs \
anyone may replace. Then each stdio server is started (in `mcpwall sandbox`, with a timeout, \
and only once a person agreed to it, or with --yes), and each remote one is contacted \
(Streamable HTTP or HTTP+SSE, same consent, no redirects, no credentials over plain http), to \
list its tools, prompts, resources and instructions: the detection engine reads every definition (poisoned descriptions, hidden \
instructions, orders about other tools), and the servers of one client are compared (tools \
sharing a name, definitions that name another server's tools). A server that fails to start is \
reported with the end of its standard error. Each issue comes with a one-line fix.",
        after_help = "Examples:\n  mcpwall scan                       # this machine's clients and the current directory's project files\n  \
mcpwall scan --list                # where it looked, what it found\n  \
mcpwall scan --config ./mcp.json --format sarif > mcpwall.sarif\n  \
mcpwall scan --client cursor --fail-on medium\n  \
mcpwall scan --offline                # the configuration checks only, nothing started\n  \
mcpwall scan --yes --timeout 20       # CI: start every server, even never seen before\n\nExit status: 0 no issue at or above \
--fail-on, 1 one or more, 2 usage error or a --config file that cannot be read. A discovered \
file that cannot be parsed is an issue of its own (scan.unreadable_config: low, medium for a \
project's file) and counts toward --fail-on like any other."
    )]
    Scan(ScanArgs),
    /// Rewrite MCP clients' configurations so that each stdio server runs through `mcpwall run`.
    #[command(
        long_about = "Rewrite MCP clients' configurations so that each stdio server runs through \
`mcpwall run` (inspected both ways, pinned, audited): `\"command\": \"npx\", \"args\": [\"-y\", \
\"pkg\"]` becomes `\"command\": \"/path/to/mcpwall\", \"args\": [\"run\", \"--name=NAME\", \"--\", \
\"npx\", \"-y\", \"pkg\"]` (JSON, JSONC, Codex's TOML, Zed's older command object). The files \
are those `mcpwall scan` finds (or --config ones). Only the command and args values change, in \
place: comments, order and indentation stay. Each change is shown as a diff; each file, as it \
was before the change, is kept in $XDG_STATE_HOME/mcpwall/backups (~/.local/state/mcpwall/backups, \
the owner's alone; never beside it, where a project's copy could be committed), named by its path \
and the time. Servers already started \
through mcpwall, remote servers and entries in shapes it does not rewrite (Continue's lists) \
are left and named. Running it again changes nothing. `mcpwall uninstall` undoes it.",
        after_help = "Examples:\n  mcpwall install --dry-run           # show what would change\n  \
mcpwall install --client claude-desktop\n  mcpwall uninstall\n\nRestart the clients \
afterwards. Exit status: 0 done (or nothing to do), 2 a --config file could not be read, or a \
file could not be rewritten (a symlink, no state directory for the backup, a change while it \
was rewritten)."
    )]
    Install(InstallArgs),
    /// Undo `mcpwall install`: each server started directly again.
    #[command(
        after_help = "Exit status: 0 done (or nothing to do), 2 a file could not be read or written."
    )]
    Uninstall(InstallArgs),
    /// Measure detection quality on a labelled JSON-lines file.
    #[command(
        after_help = "Each line is {\"id\", \"kind\", \"text\", \"label\"} with label 1 for \
malicious (or a real secret) and 0 for benign. Prints precision, recall, false-positive rate and F1 \
per kind and overall, and the worst misses on each side."
    )]
    Eval(EvalArgs),
    /// Browse and test detection rules.
    Rules(RulesArgs),
    /// Wrap one stdio MCP server: inspect every message between the client and it.
    #[command(
        long_about = "Wrap one stdio MCP server: inspect every message between the client and \
it.\n\nIn a client's configuration, put `mcpwall run --` in front of the server's command. \
mcpwall starts the server as its child and checks each JSON-RPC message both ways: tools whose \
definitions carry instructions for the model are withheld from `tools/list` (and calls to them \
refused); tool calls whose arguments look like attacks or carry secrets are refused; results, \
resources and prompts that carry prompt injections are blocked; secrets and personal data in \
what the server returns are replaced with typed placeholders; the server's `initialize` \
instructions are dropped when they are poisoned; sampling and elicitation requests are checked. \
Frames that are not strict JSON-RPC (duplicate keys, over the size cap, too deep) are refused. \
Standard output carries only JSON-RPC; audit events (JSON lines) go to standard error or \
--audit.\n\nExit status: the server's own (128 + signal when it was killed by one), or 2 \
when mcpwall could not start it.",
        after_help = "Examples:\n  mcpwall run -- npx -y @modelcontextprotocol/server-filesystem ~/notes\n  \
mcpwall run --name github --audit ~/.mcpwall/audit.jsonl -- docker run -i --rm ghcr.io/github/github-mcp-server\n\n\
Claude Desktop / Cursor configuration:\n  \"command\": \"mcpwall\",\n  \"args\": [\"run\", \"--\", \"npx\", \"-y\", \"@modelcontextprotocol/server-filesystem\", \"/Users/me/notes\"]"
    )]
    Run(RunArgs),
    /// Run a command confined: Landlock, seccomp, resource limits, a scrubbed environment.
    #[command(
        long_about = "Run a command confined, for an MCP server you do not trust.\n\nThe command \
may read and execute from the system's program and library trees (unless --no-system) and the \
--ro trees; read and write, but not execute, in the --rw trees; nothing else. It gets no network \
nor Unix sockets (a way to daemons outside it) unless --net allow and --unix allow, an \
environment cut down to \
PATH, HOME, USER, LOGNAME, LANG, LC_*, TERM, TZ and TMPDIR (and each --env NAME), no descriptors \
but standard input, output and error, resource limits, no new privileges, and no tracing, \
mounts, namespaces, io_uring, bpf or kernel modules. It is killed when the process that started \
mcpwall exits. What cannot be enforced on this kernel stops the launch: the command does not \
run.\n\nExit status: the command's; 125 when the sandbox could not be set up (the command did \
not run); 126 when the command cannot be executed, 127 when it is not found.",
        after_help = "Examples:\n  mcpwall sandbox --ro ~/notes -- npx -y @modelcontextprotocol/server-filesystem ~/notes\n  mcpwall sandbox --ro ./server --rw ./data --limit memory=1G -- python3 server/main.py\n  mcpwall sandbox --probe"
    )]
    Sandbox(SandboxArgs),
    /// A filesystem MCP server (stdio) that cannot be walked out of its roots.
    #[command(
        long_about = "A filesystem MCP server over standard input and output, with the tools \
and argument shapes of the reference filesystem server (read_text_file, read_media_file, \
read_multiple_files, list_directory, list_directory_with_sizes, directory_tree, search_files, \
get_file_info, list_allowed_directories), hardened: every path is resolved by the kernel beneath \
a handle to its root opened at start, never through a symlink; `..`, control and bidirectional \
characters and prefix tricks are refused as text; only regular files with a single link are \
read, up to a size cap; listings and searches are bounded; calls are rate limited. Refusals \
carry stable codes (outside_root, dotdot, symlink, not_regular, hardlink, too_large, \
invalid_path, not_found, rate_limited, limit_exceeded) and never a host path of the server's. The \
server confines itself before serving (Landlock: read-only to its roots; seccomp: no sockets, no \
exec) and refuses to start when it cannot, unless --allow-unconfined.\n\nWith --allow-write \
it offers write_file, edit_file and create_directory (a file is written whole to a temporary \
file and renamed into place; protected paths such as .git, .vscode, .claude, .mcp.json and \
shell start-up files are refused, code `protected`); move_file needs --allow-destructive too.",
        after_help = "Claude Desktop / Cursor configuration:\n  \"command\": \"mcpwall\",\n  \"args\": [\"fs\", \"--root\", \"/Users/me/notes\"]"
    )]
    Fs(FsArgs),
    /// Review and approve changes to pinned tool definitions (rug pulls).
    #[command(
        long_about = "Review and approve changes to pinned tool definitions.\n\nThe first time \
`mcpwall run` sees a server list its tools, it pins each tool's definition (a SHA-256 of its \
canonical JSON, and the definition itself) in the lockfile. When a pinned tool's definition \
changes later, or a new tool appears, the tool is withheld from the client and the change waits \
here until a person approves it.\n\nThe lockfile is --lock, else $MCPWALL_LOCK, else \
$XDG_STATE_HOME/mcpwall/mcpwall.lock (~/.local/state/mcpwall/mcpwall.lock).",
        after_help = "Examples:\n  mcpwall pins list\n  mcpwall pins approve --server notes --tool read_note\n  mcpwall pins approve --server notes --yes\n\nExit status: list: 0 nothing pending, 1 changes wait for approval; approve: 0 approved, 1 declined, 2 error."
    )]
    Pins(PinsArgs),
    /// Check an audit file written by `mcpwall run --audit FILE`.
    #[command(
        long_about = "Check an audit file written by `mcpwall run --audit FILE`: each record \
carries the SHA-256 of the line before it, so a record removed, changed or inserted after it was \
written breaks the chain.",
        after_help = "Exit status: 0 the chain is intact, 1 it is broken (the first broken line \
is named), 2 the file cannot be read."
    )]
    Audit(AuditArgs),
    /// Check a policy file.
    #[command(after_help = "Exit status: 0 valid, 2 invalid (the error names the line).")]
    Policy(PolicyArgs),
    /// Serve MCP servers over Streamable HTTP, inspecting every message.
    #[command(
        long_about = "Serve MCP servers over Streamable HTTP, inspecting every message.\n\n\
Each upstream server in the configuration is served at http://ADDR/mcp/NAME, and all of them \
as one server at http://ADDR/mcp (tools named UPSTREAM__TOOL; a tool whose definition names \
another server's tool is withheld). A client's `initialize` starts a session (the \
Mcp-Session-Id header): a process of a stdio server for that session alone, or a session of its \
own on a remote server (`url`). Clients of protocol 2026-07-28 without sessions share one \
process of a stdio server per upstream (or one link to a remote one), and with it taint and \
questions; the aggregated endpoint merges those, and an upstream that does not speak \
2026-07-28 sends them to `initialize`. Every \
message both ways goes through the same checks as `mcpwall run`. The gateway listens on 127.0.0.1 by default and refuses requests whose Host or \
Origin header is not local (DNS rebinding); on any other address a bearer token (token_env) is \
required; tls_cert and tls_key turn on HTTPS. Without a policy, `serve` denies every tool, resource \
and prompt: list what may be used.\n\nWithout --config, a built-in \
demo server with a poisoned tool, an injected result and a leaked key is served at /mcp/demo.\n\n\
Exit status: 0 after SIGINT or SIGTERM, 2 when it cannot start (bad configuration, address in \
use).",
        after_help = "Examples:\n  mcpwall serve                                   # the built-in demo at http://127.0.0.1:8750/mcp/demo\n  \
mcpwall serve --config mcpwall.toml --audit audit.jsonl\n  \
claude mcp add --transport http notes http://127.0.0.1:8750/mcp/notes"
    )]
    Serve(ServeArgs),
    /// A small stdio MCP server that misbehaves on purpose (the demo `serve` runs).
    #[command(hide = true)]
    DemoServer,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    pub(crate) command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Parse and check a policy file, as `mcpwall run --policy` would load it.
    Check {
        /// The policy file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    pub(crate) command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain of an audit file, and print its head (the last record's hash).
    #[command(
        after_help = "The chain shows a record changed, removed or inserted, but not records cut \
                      from the end: note the head printed now somewhere the writer of the file \
                      cannot change, and pass it with --head later.\n\n\
                      Exit status: 0 intact, 1 broken (or the head is not in the file), 2 the \
                      file cannot be read."
    )]
    Verify {
        /// The audit file.
        file: PathBuf,
        /// A head printed by an earlier verification: it must still be a record of the chain.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PinsArgs {
    #[command(subcommand)]
    pub(crate) command: PinsCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PinsCommand {
    /// List pinned servers and tools, and the changes waiting for approval.
    List {
        /// The lockfile.
        #[arg(long, value_name = "FILE", env = "MCPWALL_LOCK")]
        lock: Option<PathBuf>,
    },
    /// Show the diff of each pending change and approve it.
    Approve {
        /// The lockfile.
        #[arg(long, value_name = "FILE", env = "MCPWALL_LOCK")]
        lock: Option<PathBuf>,
        /// The server, by the name `mcpwall run --name` gave it.
        #[arg(long)]
        server: String,
        /// A tool to approve (repeatable); without it, every pending change of the server.
        #[arg(long)]
        tool: Vec<String>,
        /// Approve without asking (for scripts; the diff is still printed).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The server's name, in the lockfile and audit events. Without it, the command line is
    /// the name: give one, so that pins survive a change of arguments.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) gateway: GatewayArgs,
    /// The server's command and arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration: address, upstream servers, policy, lockfile, audit file (see
    /// docs/serve.example.toml). Without it, the built-in demo server is served.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The address to listen on, instead of the configuration's (default 127.0.0.1:8750; port
    /// 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub(crate) gateway: GatewayArgs,
}

/// What `run` and `serve` share: how the pipeline decides and where it reports.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// A policy file: which tools may be called, with which arguments, how often, and which
    /// resources and prompts may be read (see docs/policy.example.toml). Without it, `run`
    /// lets every call go on to the engine's checks, and `serve` denies everything.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// The lockfile of tool pins (default: $XDG_STATE_HOME/mcpwall/mcpwall.lock).
    #[arg(long, value_name = "FILE", env = "MCPWALL_LOCK")]
    pub(crate) lock: Option<PathBuf>,
    /// Do not pin tool definitions (rug pulls go unnoticed).
    #[arg(long, conflicts_with = "lock")]
    pub(crate) no_pins: bool,
    /// Append audit events to FILE instead of standard error: JSON lines, each with the
    /// SHA-256 of the line before it (check with `mcpwall audit verify FILE`).
    #[arg(long, value_name = "FILE")]
    pub(crate) audit: Option<PathBuf>,
    /// Keep forwarding when an audit event cannot be written to --audit FILE (by default
    /// every message is refused until it can).
    #[arg(long)]
    pub(crate) audit_fail_open: bool,
    /// Largest message accepted either way, in bytes; larger ones are refused.
    #[arg(long, value_name = "BYTES", default_value_t = mcpwall_protocol::DEFAULT_MAX_FRAME)]
    pub(crate) max_frame: usize,
    /// Seconds a request may wait for the server's answer before mcpwall answers it with an
    /// error and cancels it (a progress report restarts the clock); 0: no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) call_timeout: u64,
    /// Leave secrets and personal data in results as they are (they are still never logged).
    #[arg(long)]
    pub(crate) no_redact: bool,
    #[command(flatten)]
    pub(crate) rules: RuleSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputMode {
    /// JSON when the whole input parses as a JSON object or array, text otherwise.
    Auto,
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct RuleSource {
    /// Extra rule directory (*.toml packs; *.yar with the yara feature). Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    pub(crate) rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// File to scan, or `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-", conflicts_with_all = ["jsonl", "demo"])]
    pub(crate) file: PathBuf,
    /// Where the text comes from; rules and severities depend on it.
    #[arg(long, short = 's', value_parser = parse_surface, default_value = "tool_result")]
    pub(crate) surface: Surface,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Exit with status 1 when a finding reaches this severity.
    #[arg(long, value_parser = parse_severity, default_value = "medium")]
    pub(crate) fail_on: Severity,
    /// How to read the input.
    #[arg(long, value_enum, default_value_t = InputMode::Auto)]
    pub(crate) input: InputMode,
    /// Batch mode: classify each JSON line of FILE (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) jsonl: Option<PathBuf>,
    /// Scan a built-in poisoned `tools/list` result (a quick look at what mcpwall catches).
    #[arg(long)]
    pub(crate) demo: bool,
    /// Refuse inputs larger than this many bytes.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    pub(crate) max_bytes: u64,
    #[command(flatten)]
    pub(crate) source: RuleSource,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Also read this configuration file (any client's format; repeatable). With --config
    /// only, nothing else is read unless --discover or --client is given too.
    #[arg(long = "config", value_name = "PATH")]
    pub(crate) configs: Vec<PathBuf>,
    /// Read the known clients' files as well as the --config files.
    #[arg(long)]
    pub(crate) discover: bool,
    /// Only this client's files (repeatable): claude-desktop, claude-code, cursor, vscode,
    /// windsurf, gemini-cli, codex, zed, continue, cline, roo-code, lm-studio.
    #[arg(long = "client", value_name = "NAME", value_parser = parse_client)]
    pub(crate) clients: Vec<String>,
    /// The project whose own files (.mcp.json, .cursor/mcp.json, .vscode/mcp.json, ...) are
    /// read [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Say where it looked and what it found, and exit.
    #[arg(long)]
    pub(crate) list: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ScanFormat::Text)]
    pub(crate) format: ScanFormat,
    /// Exit with status 1 when an issue reaches this severity.
    #[arg(long, value_parser = parse_severity, default_value = "high")]
    pub(crate) fail_on: Severity,
    /// Check the configurations only: start no server, contact none.
    #[arg(long, conflicts_with = "yes")]
    pub(crate) offline: bool,
    /// Start every configured stdio server, and contact every remote one, to inspect it, also
    /// those never inspected before (for CI, on configurations you trust to run). Without it, a
    /// server is started or contacted only once a person agreed to it (asked on a terminal;
    /// remembered in $XDG_STATE_HOME/mcpwall/scan-approved).
    #[arg(long)]
    pub(crate) yes: bool,
    /// Fill in `${VAR}` references in remote servers' header values from this environment, as
    /// clients do (`Authorization: Bearer ${API_TOKEN}`). Off by default: a configuration file
    /// may be a stranger's, and the environment (a CI job's) may hold secrets it would send
    /// to its server; without it such a header is not sent, and the report says so.
    #[arg(long)]
    pub(crate) header_vars: bool,
    /// Start servers without the sandbox (by default each runs in `mcpwall sandbox`: no access
    /// to the home directory but runtimes' installations, package caches in a private temporary
    /// directory, network allowed for package downloads).
    #[arg(long)]
    pub(crate) no_sandbox: bool,
    /// Seconds each server has to start and list what it offers.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) timeout: u64,
    /// The lockfile of tool pins the listed tools are compared with (default: the gateway's,
    /// $XDG_STATE_HOME/mcpwall/mcpwall.lock).
    #[arg(long, value_name = "FILE", env = "MCPWALL_LOCK")]
    pub(crate) lock: Option<PathBuf>,
    /// Record the listed servers' tools as the gateway would: a server never pinned is pinned
    /// as it is now; changes to one already pinned wait for `mcpwall pins approve`, which
    /// shows each.
    #[arg(long, conflicts_with = "offline")]
    pub(crate) update_pins: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// Only this file (any client's format; repeatable).
    #[arg(long = "config", value_name = "PATH")]
    pub(crate) configs: Vec<PathBuf>,
    /// Only this client's files (repeatable).
    #[arg(long = "client", value_name = "NAME", value_parser = parse_client)]
    pub(crate) clients: Vec<String>,
    /// The project whose own files are changed too [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScanFormat {
    Text,
    Json,
    Sarif,
}

fn parse_client(s: &str) -> Result<String, String> {
    if mcpwall_scan::clients::CLIENTS.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "unknown client (one of: {})",
            mcpwall_scan::clients::CLIENTS.join(", ")
        ))
    }
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Labelled JSON-lines file, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Print the evaluation as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// How many misses of each side to show per kind.
    #[arg(long, default_value_t = 5)]
    pub(crate) misses: usize,
    #[command(flatten)]
    pub(crate) source: RuleSource,
}

#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    #[command(subcommand)]
    pub(crate) command: RulesCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// List rules (built-in and from --rules directories).
    List {
        /// Only rules of this category.
        #[arg(long)]
        category: Option<String>,
        /// Only rules that apply to this surface.
        #[arg(long, value_parser = parse_surface)]
        surface: Option<Surface>,
        /// List concepts instead of rules.
        #[arg(long)]
        concepts: bool,
        /// Print the sizes of the compiled rule set instead.
        #[arg(long)]
        stats: bool,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        source: RuleSource,
    },
    /// Show one rule: its matcher, surfaces, examples and origin.
    Show {
        id: String,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        source: RuleSource,
    },
    /// Show which rule literals cost the most on a text (hits, bytes of pattern search).
    Profile {
        /// File to profile, or `-` for standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        #[arg(long, short = 's', value_parser = parse_surface, default_value = "tool_result")]
        surface: Surface,
        /// How many rows to show.
        #[arg(long, default_value_t = 25)]
        top: usize,
        #[command(flatten)]
        source: RuleSource,
    },
    /// Run rules' own match/no_match examples: DIR's rules, or the built-in ones.
    #[command(
        after_help = "Exit status: 0 all examples pass, 1 some fail, 2 the rules do not load."
    )]
    Test {
        /// A directory of rule packs to test (loaded together with the built-in packs).
        dir: Option<PathBuf>,
        /// Print every example, not only failures.
        #[arg(long, short = 'v')]
        verbose: bool,
    },
}

fn parse_surface(s: &str) -> Result<Surface, String> {
    s.parse()
        .map_err(|e: mcpwall_detect::UnknownSurface| e.to_string())
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
        .map_err(|e: mcpwall_detect::UnknownSeverity| e.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// A tree the command may read and execute from (repeatable). It must exist.
    #[arg(long = "ro", value_name = "PATH")]
    pub(crate) read_only: Vec<PathBuf>,
    /// A tree the command may read and write, but not execute from (repeatable). It must exist.
    #[arg(long = "rw", value_name = "PATH")]
    pub(crate) read_write: Vec<PathBuf>,
    /// Network: `none` (Internet sockets refused) or `allow`.
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) net: Net,
    /// Unix sockets: `none` (refused: they reach the user's session bus, Docker, SSH agents,
    /// each a way out) or `allow`. Socket pairs always work.
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) unix: Net,
    /// Leave out the system's read-only trees (/usr, /lib, /bin, certificates, time zones...):
    /// only --ro and --rw, for a static binary.
    #[arg(long)]
    pub(crate) no_system: bool,
    /// Pass this environment variable on too (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub(crate) env: Vec<String>,
    /// A resource limit, KEY=VALUE (repeatable): memory=4G (data), processes=256 (more than the
    /// user runs now), file-size=1G, cpu=SECONDS, open-files=1024; `none` lifts one. The
    /// values shown are the defaults (cpu: none). Core dumps are always off.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub(crate) limits: Vec<String>,
    /// Run the command even when this kernel cannot enforce Landlock (Linux before 6.2, or
    /// Landlock turned off), the file system then open to it, with a warning. Without this
    /// flag, no Landlock means no launch (exit status 125).
    #[arg(long)]
    pub(crate) allow_degraded: bool,
    /// Say what this kernel can enforce, and exit.
    #[arg(long, conflicts_with = "command")]
    pub(crate) probe: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required_unless_present = "probe", value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Net {
    None,
    Allow,
}

#[derive(Debug, Args)]
pub(crate) struct FsArgs {
    /// A directory the server may read (repeatable; at least one). Relative paths in calls are
    /// taken from the first.
    #[arg(long = "root", value_name = "DIR", required = true)]
    pub(crate) roots: Vec<PathBuf>,
    /// Offer the tools that write: write_file, edit_file, create_directory (never on protected
    /// paths: .git, agent and editor settings, shell start-up files).
    #[arg(long)]
    pub(crate) allow_write: bool,
    /// Offer move_file too (with --allow-write).
    #[arg(long)]
    pub(crate) allow_destructive: bool,
    /// Serve even when the process cannot confine itself (a warning says so).
    #[arg(long)]
    pub(crate) allow_unconfined: bool,
    /// Largest file read, in bytes (default 10 MiB).
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_file_size: Option<u64>,
    /// Most paths in one read_multiple_files (default 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) max_batch: Option<u32>,
    /// Most levels a tree or a search goes down (default 32).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) max_depth: Option<u32>,
    /// Most entries a listing, tree or search reports (default 10,000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub(crate) max_entries: Option<u32>,
    /// Most seconds a tree or a search may take (default 5).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub(crate) walk_seconds: Option<u32>,
    /// Tool calls a second, on average, before calls are refused with `rate_limited`
    /// (default 20), in bursts of up to --burst (default 100).
    #[arg(long, value_name = "CALLS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) rate: Option<u32>,
    /// Tool calls in a burst (default 100).
    #[arg(long, value_name = "CALLS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) burst: Option<u32>,
    /// Symlinks in the paths of reads and listings: `refuse` every one (code `symlink`), or
    /// follow those whose resolution stays beneath the root (`beneath`: relative links
    /// only; the kernel refuses an absolute one or one that climbs out, code `outside_root`).
    /// Writes never follow a symlink; listings and searches never descend into one.
    #[arg(long, value_enum, default_value = "refuse")]
    pub(crate) symlinks: Symlinks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Symlinks {
    Refuse,
    Beneath,
}
