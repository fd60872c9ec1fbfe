//! `mcpwall scan` on a fixture home and project holding every client's configuration format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::gateway::{node_modules, peers, python};
use super::serve::{everything_http_server, free_port, http_test_server};
use super::{code, stderr, stdout};

/// A home directory and a project with each client's files, and a `bin` directory for `PATH`.
struct Fixture {
    dir: tempfile::TempDir,
}

/// GitHub token-shaped values made for these tests (not real credentials).
const TOKEN: &str = "ghp_R8mXq2LzT5vN9cW3yB7kD1fH6jP4sA0eG2uQ";
const ARG_TOKEN: &str = "ghp_Wq7Zt3Kp9Lm2Nx8Rv4Bc6Yd1Fg5Hj0Ks3Ue9";
const URL_TOKEN: &str = "ghp_Jd4Ks8Lq2Mz6Nv0Px3Rb7Tc1Wf5Yh9Gk2Ae4";

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = Fixture { dir };
        let w = |rel: &str, text: &str| {
            let p = f.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        w(
            "home/.config/Claude/claude_desktop_config.json",
            &format!(
                r#"{{
  "mcpServers": {{
    "github": {{
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {{"GITHUB_PERSONAL_ACCESS_TOKEN": "{TOKEN}"}}
    }},
    "files": {{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem@2026.8.31", "/home/me/notes"]}}
  }}
}}
"#
            ),
        );
        w(
            "home/.claude.json",
            r#"{"numStartups": 3, "mcpServers": {"time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time==0.6.2"]}},
 "projects": {"/home/me/app": {"mcpServers": {"db": {"command": "uvx", "args": ["postgres-mcp"]}}}}}
"#,
        );
        w(
            "home/.cursor/mcp.json",
            r#"{"mcpServers": {"remote": {"url": "http://mcp.example.com/mcp", "headers": {"Authorization": "Bearer sk-live-QmFzZTY0ZW5jb2RlZFNlY3JldA"}}}}"#,
        );
        w(
            "home/.config/Code/User/mcp.json",
            r#"{"servers": {"tool": {"type": "stdio", "command": "mcp-tool"}}, "inputs": []}"#,
        );
        w(
            "home/.config/Code/User/settings.json",
            "{\n  // comments and trailing commas, as VS Code allows\n  \"editor.fontSize\": 13,\n  \"mcp\": {\n    \"servers\": {\n      \"pg\": {\"command\": \"docker\", \"args\": [\"run\", \"-i\", \"--rm\", \"--network=host\", \"mcp/postgres\"],},\n    },\n  },\n}\n",
        );
        w(
            "home/.config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
            r#"{"mcpServers": {"fetch": {"command": "uvx", "args": ["mcp-server-fetch"], "disabled": true, "autoApprove": []}}}"#,
        );
        w(
            "home/.config/Code/User/globalStorage/rooveterinaryinc.roo-cline/settings/mcp_settings.json",
            r#"{"mcpServers": {"git": {"command": "uvx", "args": ["mcp-server-git==2025.1.14"]}}}"#,
        );
        w(
            "home/.codeium/windsurf/mcp_config.json",
            r#"{"mcpServers": {"docs": {"serverUrl": "https://docs.example.com/mcp"}}}"#,
        );
        w(
            "home/.gemini/settings.json",
            r#"{"theme": "Default", "mcpServers": {"search": {"httpUrl": "http://10.1.2.3:8080/mcp"}}}"#,
        );
        w(
            "home/.codex/config.toml",
            "model = \"o3\"\n\n[mcp_servers.shell]\ncommand = \"bash\"\nargs = [\"-c\", \"exec node $HOME/srv.js\"]\n",
        );
        w(
            "home/.config/zed/settings.json",
            "{\n  \"context_servers\": {\n    \"old\": {\"command\": {\"path\": \"/usr/bin/env\", \"args\": [\"node\", \"s.js\"]}},\n    \"new\": {\"source\": \"custom\", \"command\": \"npx\", \"args\": [\"-y\", \"zed-mcp@0.3.1\"]}, // pinned\n  }\n}\n",
        );
        w(
            "home/.continue/config.json",
            r#"{"experimental": {"modelContextProtocolServers": [{"transport": {"type": "stdio", "command": "node", "args": ["server.js"]}}]}}"#,
        );
        w(
            "home/.continue/config.yaml",
            "mcpServers:\n  - name: y\n    command: y\n",
        );
        w(
            "home/.lmstudio/mcp.json",
            r#"{"mcpServers": {"hf": {"url": "https://huggingface.co/mcp"}}}"#,
        );
        w(
            "proj/.mcp.json",
            &format!(
                r#"{{"mcpServers": {{"local": {{"command": "node", "args": ["./server.js"]}},
                "leaky": {{"command": "npx", "args": ["-y", "leaky-mcp", "--token", "{ARG_TOKEN}"]}},
                "preload": {{"command": "node", "args": ["s.js"], "env": {{"LD_PRELOAD": "/tmp/x.so"}}}}}}}}"#
            ),
        );
        w(
            "proj/.cursor/mcp.json",
            &format!(
                r#"{{"mcpServers": {{"proj-remote": {{"url": "https://mcp.internal.example/mcp"}},
                "keyed": {{"url": "http://mcp.partner.example/mcp?access_token={URL_TOKEN}"}}}}}}"#
            ),
        );
        w(
            "proj/.vscode/mcp.json",
            r#"{"servers": {"sqlite": {"command": "uvx", "args": ["mcp-server-sqlite==0.6.2", "--db-path", "test.db"]}}}"#,
        );
        w(
            "proj/.gemini/settings.json",
            r#"{"mcpServers": {"gem": {"command": "npx", "args": ["gem-mcp@latest"]}}}"#,
        );
        w(
            "proj/.roo/mcp.json",
            r#"{"mcpServers": {"roo": {"command": "pnpm", "args": ["dlx", "roo-mcp"]}}}"#,
        );
        w(
            "proj/.continue/mcpServers/pg.yaml",
            &format!(
                "name: Postgres block\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: pgblock\n    command: npx\n    args: [\"-y\", \"@modelcontextprotocol/server-postgres\"]\n  - name: \"yamlkey\"\n    type: streamable-http\n    url: https://mcp.example.com/mcp\n    requestOptions:\n      headers:\n        Authorization: Bearer {TOKEN}\n"
            ),
        );
        w(
            "proj/.continue/mcpServers/browser.json",
            r#"{"mcpServers": {"browser": {"command": "npx", "args": ["-y", "@playwright/mcp@0.0.41"]}}}"#,
        );
        // A program anyone may replace, on the PATH the scan looks commands up in.
        w("bin/mcp-tool", "#!/bin/sh\n");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            f.dir.path().join("bin/mcp-tool"),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod");
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn scan(&self, args: &[&str]) -> Output {
        self.scan_with(args, &[])
    }

    fn scan_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mcpwall"))
            .arg("scan")
            .envs(vars.iter().copied())
            .args(args)
            .current_dir(self.path("proj"))
            .env("HOME", self.path("home"))
            .env("PATH", self.path("bin"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("APPDATA")
            .env("NO_COLOR", "1")
            .output()
            .expect("mcpwall runs")
    }

    /// Output with the fixture's directory written `$T`, for the golden files.
    fn normalised(&self, text: &str) -> String {
        let top = self.dir.path().display().to_string();
        text.replace(&top, "$T")
    }
}

/// Compares with a golden file (rewritten instead when MCPWALL_UPDATE_GOLDEN is set).
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MCPWALL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (MCPWALL_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file; if the change is meant, rerun with MCPWALL_UPDATE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn every_client_format_is_found_and_checked() {
    let f = Fixture::new();
    let o = f.scan(&["--list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list = stdout(&o);
    for (client, path, servers) in [
        (
            "claude-desktop",
            "~/.config/Claude/claude_desktop_config.json",
            "2 servers",
        ),
        ("claude-code", "~/.claude.json", "2 servers"),
        ("cursor", "~/.cursor/mcp.json", "1 server"),
        ("vscode", "~/.config/Code/User/mcp.json", "1 server"),
        ("vscode", "~/.config/Code/User/settings.json", "1 server"),
        ("cline", "cline_mcp_settings.json", "1 server"),
        ("roo-code", "mcp_settings.json", "1 server"),
        (
            "windsurf",
            "~/.codeium/windsurf/mcp_config.json",
            "1 server",
        ),
        ("gemini-cli", "~/.gemini/settings.json", "1 server"),
        ("codex", "~/.codex/config.toml", "1 server"),
        ("zed", "~/.config/zed/settings.json", "2 servers"),
        ("continue", "~/.continue/config.json", "1 server"),
        ("continue", "~/.continue/config.yaml", "1 server"),
        ("lm-studio", "~/.lmstudio/mcp.json", "1 server"),
        ("claude-code", "proj/.mcp.json", "3 servers"),
        ("cursor", "proj/.cursor/mcp.json", "2 servers"),
        ("vscode", "proj/.vscode/mcp.json", "1 server"),
        ("gemini-cli", "proj/.gemini/settings.json", "1 server"),
        ("roo-code", "proj/.roo/mcp.json", "1 server"),
        (
            "continue",
            "proj/.continue/mcpServers/browser.json",
            "1 server",
        ),
        ("continue", "proj/.continue/mcpServers/pg.yaml", "2 servers"),
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(client) && l.contains(path) && l.contains(servers)),
            "{client} {path} {servers}:\n{list}"
        );
    }

    // The report: each issue where it belongs, and nothing clean flagged.
    let o = f.scan(&["--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["schema"], "mcpwall.scan/1");
    let issues = |name: &str| -> Vec<String> {
        r["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no server {name}"))["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .map(|i| i["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        issues("github"),
        ["config.plaintext_secret", "config.unpinned_package"]
    );
    for clean in [
        "files",
        "time",
        "git",
        "docs",
        "new",
        "local",
        "proj-remote",
        "sqlite",
        "browser",
        "hf",
    ] {
        assert!(issues(clean).is_empty(), "{clean}: {:?}", issues(clean));
    }
    for (name, id) in [
        ("db", "config.unpinned_package"),
        ("remote", "config.insecure_remote"),
        ("search", "config.insecure_remote"),
        ("pg", "config.container_privileged"),
        ("shell", "config.shell_command"),
        ("tool", "config.world_writable_executable"),
        ("fetch", "config.unpinned_package"),
        ("gem", "config.unpinned_package"),
        ("roo", "config.unpinned_package"),
        ("leaky", "config.plaintext_secret"),
        ("keyed", "config.plaintext_secret"),
        ("keyed", "config.insecure_remote"),
        ("preload", "config.code_loading_env"),
        ("pgblock", "config.unpinned_package"),
        ("yamlkey", "config.plaintext_secret"),
    ] {
        assert!(
            issues(name).iter().any(|i| i == id),
            "{name}: {:?}",
            issues(name)
        );
    }
    assert!(
        issues("remote")
            .iter()
            .any(|i| i == "config.plaintext_secret")
    );
    let fetch = r["servers"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "fetch"))
        .expect("fetch");
    assert_eq!(fetch["disabled"], true);
    assert_eq!(r["summary"]["max_severity"], "high");

    // No format prints the credentials.
    for format in ["text", "json", "sarif"] {
        let out = stdout(&f.scan(&["--format", format]));
        for secret in [TOKEN, ARG_TOKEN, URL_TOKEN, "QmFzZTY0ZW5jb2RlZFNlY3JldA"] {
            assert!(!out.contains(secret), "{format}: {secret} in {out}");
        }
    }

    golden("scan.txt", &f.normalised(&stdout(&f.scan(&["--offline"]))));
    golden(
        "scan.json",
        &f.normalised(&stdout(&f.scan(&["--offline", "--format", "json"]))),
    );
}

#[test]
fn exit_status_filters_and_bad_input() {
    let f = Fixture::new();
    // Only the files given, unless discovery is asked for too.
    let vscode = f.path("proj/.vscode/mcp.json");
    let vscode = vscode.to_str().expect("UTF-8");
    let o = f.scan(&["--config", vscode, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["summary"]["servers"], 1);
    // Medium issues fail the run when asked.
    let gemini = f.path("proj/.gemini/settings.json");
    let gemini = gemini.to_str().expect("UTF-8");
    assert_eq!(code(&f.scan(&["--config", gemini])), 0);
    assert_eq!(
        code(&f.scan(&["--config", gemini, "--fail-on", "medium"])),
        1
    );
    // One client only.
    let o = f.scan(&["--client", "codex", "--format", "json"]);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["summary"]["servers"], 1, "{r}");
    assert_eq!(code(&f.scan(&["--client", "nonesuch"])), 2);
    // A file given that cannot be read or parsed: an error, and no report.
    let bad = f.path("bad.json");
    std::fs::write(&bad, "{\"mcpServers\": {").expect("write");
    let o = f.scan(&["--config", bad.to_str().expect("UTF-8")]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("bad.json") && stderr(&o).contains("JSON"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    let o = f.scan(&["--config", "/no/such/file.json"]);
    assert_eq!(code(&o), 2);
    // A discovered file that cannot be parsed is reported; the rest is still checked.
    std::fs::write(f.path("home/.cursor/mcp.json"), "{oops").expect("write");
    let o = f.scan(&[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("mcp.json: LOW error: not valid JSON"),
        "{}",
        stdout(&o)
    );
    // A project's file that cannot be read (a repository brings it) counts as medium.
    std::fs::write(f.path("proj/.mcp.json"), "{\"mcpServers\": {\"a\": ").expect("write");
    let o = f.scan(&["--format", "json", "--fail-on", "high"]);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let looked = r["looked"]
        .as_array()
        .and_then(|l| {
            l.iter().find(|l| {
                l["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("proj/.mcp.json"))
            })
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(looked["status"], "error", "{looked}");
    assert_eq!(looked["severity"], "medium", "{looked}");
    // In SARIF too, at the file's first line.
    let o = f.scan(&["--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&o.stdout).expect("SARIF");
    let found = sarif["runs"][0]["results"].as_array().is_some_and(|r| {
        r.iter().any(|x| {
            x["ruleId"] == "scan.unreadable_config"
                && x["level"] == "warning"
                && x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("proj/.mcp.json"))
        })
    });
    assert!(found, "{sarif}");
}

/// Servers started to list what they offer: the official Python SDK's test servers (one with a
/// poisoned tool, one that names the other's tool), one that fails, one that hangs, one that
/// tries to read a file of the home directory; in the sandbox, only with consent.
#[test]
fn servers_are_started_with_consent_in_the_sandbox_and_judged() {
    let f = Fixture::new();
    let python = python().display().to_string();
    let p = |name: &str| peers().join(name).display().to_string();
    std::fs::write(f.path("home/secret.txt"), "TOPSECRET").expect("write");
    let config = f.path("proj/servers.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "demo": {"command": python, "args": [p("poisoned_server.py")]},
            "shadow": {"command": python, "args": [p("shadow_server.py")]},
            "broken": {"command": "/bin/sh", "args": ["-c", "echo 'cannot reach the database' >&2; exit 3"]},
            "hang": {"command": "/bin/sleep", "args": ["60"]},
            // Never reads its input; floods requests of its own with a huge id.
            "flood": {"command": "/usr/bin/python3", "args": ["-c", format!("import sys\nline = '{{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"{}\"}}\\n'\nwhile True: sys.stdout.write(line)", "x".repeat(100_000))]},
            "preload": {"command": "/bin/sh", "args": ["-c", "echo started >&2"], "env": {"LD_PRELOAD": "/nonexistent.so"}},
            "snoop": {"command": "/bin/sh", "args": ["-c", format!("echo started >&2; /usr/bin/cat {}/secret.txt >&2; exit 1", f.path("home").display())]},
            // Leaves a process behind in a session of its own (out of its process group), and
            // exits only once that process is in its new session (on a busy machine the
            // background job may not have run yet).
            "daemon": {"command": "/bin/sh", "args": ["-c", format!("/usr/bin/setsid /bin/sh -c 'echo up > \"$TMPDIR/daemon\"; exec /bin/sleep {DAEMON_SECONDS}' </dev/null >/dev/null 2>&1 & while [ ! -s \"$TMPDIR/daemon\" ]; do sleep 0.05; done; exit 1")]},
        }})
        .to_string(),
    )
    .expect("write");
    let config = config.to_str().expect("UTF-8");
    let json = |o: &Output| -> Value { serde_json::from_slice(&o.stdout).expect("JSON") };
    let inspection = |r: &Value, name: &str| -> Value {
        r["servers"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .map(|s| s["inspection"].clone())
            .unwrap_or(Value::Null)
    };
    // Offline: nothing starts.
    let o = f.scan(&["--config", config, "--offline", "--format", "json"]);
    assert_eq!(inspection(&json(&o), "demo"), Value::Null);
    // No consent (no terminal, no --yes): nothing starts either, and the report says how.
    let o = f.scan(&["--config", config, "--format", "json"]);
    let r = json(&o);
    assert_eq!(inspection(&r, "snoop")["status"], "skipped");
    assert!(
        inspection(&r, "snoop")["reason"]
            .as_str()
            .is_some_and(|t| t.contains("--yes"))
    );
    // With --yes: each is started in the sandbox, within the timeout.
    let started = std::time::Instant::now();
    let o = f.scan(&[
        "--config",
        config,
        "--yes",
        "--timeout",
        "5",
        "--format",
        "json",
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    let ids = |name: &str| -> Vec<String> {
        r["servers"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .map(|s| {
                s["issues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| i["id"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let demo = inspection(&r, "demo");
    assert_eq!(demo["status"], "listed", "{demo}");
    assert_eq!(demo["server"], "poisoned-demo");
    assert!(
        demo["tools"].as_array().is_some_and(|t| t.len() == 5),
        "{demo}"
    );
    assert!(
        ids("demo").iter().any(|i| i.starts_with("tool_poisoning.")),
        "{:?}",
        ids("demo")
    );
    // Its page reader, config reader and weather fetcher: untrusted content, private data and a
    // way out in one client.
    assert!(
        ids("demo").iter().any(|i| i == "scan.toxic_flow"),
        "{:?}",
        ids("demo")
    );
    assert!(
        ids("shadow")
            .iter()
            .any(|i| i == "scan.cross_server_reference"),
        "{:?}",
        ids("shadow")
    );
    let broken = inspection(&r, "broken");
    assert_eq!(broken["status"], "failed");
    assert!(
        broken["stderr"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach the database")),
        "{broken}"
    );
    assert!(ids("broken").iter().any(|i| i == "scan.not_inspected"));
    assert!(
        inspection(&r, "hang")["reason"]
            .as_str()
            .is_some_and(|t| t.contains("in time"))
    );
    let flood = inspection(&r, "flood");
    assert_eq!(flood["status"], "failed", "{}", flood["reason"]);
    let preload = inspection(&r, "preload");
    assert_eq!(preload["status"], "skipped");
    assert!(
        preload["reason"]
            .as_str()
            .is_some_and(|t| t.contains("LD_PRELOAD")),
        "{preload}"
    );
    // What the daemon left was stopped.
    assert!(
        stderr(&o).contains("stopped 1 process(es)"),
        "{}",
        stderr(&o)
    );
    assert!(
        !sleeping(DAEMON_SECONDS),
        "the daemon's process is still running"
    );
    // The sandbox kept the home directory out of reach.
    let snoop = inspection(&r, "snoop");
    let err = snoop["stderr"].as_str().unwrap_or("");
    assert!(
        err.contains("started") && err.contains("Permission denied") && !err.contains("TOPSECRET"),
        "{snoop}"
    );
    // Consent is remembered: the next scan starts them without --yes.
    let o = f.scan(&["--config", config, "--timeout", "5", "--format", "json"]);
    let r = json(&o);
    assert_eq!(inspection(&r, "demo")["status"], "listed");
    assert_eq!(inspection(&r, "snoop")["status"], "failed");
    // The servers' private temporary directories are gone.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("mcpwall-scan-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A changed command line is a new program: asked again.
    let changed = std::fs::read_to_string(f.path("proj/servers.json"))
        .expect("read")
        .replace("exit 1", "exit 2");
    std::fs::write(f.path("proj/servers.json"), changed).expect("write");
    let o = f.scan(&["--config", config, "--timeout", "5", "--format", "json"]);
    assert_eq!(inspection(&json(&o), "snoop")["status"], "skipped");

    // SARIF, checked against the OASIS SARIF 2.1.0 schema.
    let o = f.scan(&["--config", config, "--timeout", "5", "--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&o.stdout).expect("SARIF is JSON");
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mcpwall-scan/tests/data/sarif-schema-2.1.0.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema"))
            .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(
        results
            .iter()
            .any(|x| x["ruleId"] == "scan.cross_server_reference"
                && x["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() > Some(0))
    );
    // The schema is not a formality: a broken log fails it.
    let mut broken_log = sarif.clone();
    broken_log["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken_log));
}

/// How long the daemon test server's orphan sleeps: a number no other process uses.
const DAEMON_SECONDS: u32 = 3171;

/// Whether a `sleep SECONDS` process is running on this machine.
fn sleeping(seconds: u32) -> bool {
    let want = format!("/bin/sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
}

/// Real servers from the registries, as a user has them: the npm reference servers
/// `everything` and `filesystem` and PyPI's `mcp-server-time`, started in the sandbox, listed,
/// and not flagged (a scanner that cries wolf on the reference servers gets turned off).
#[test]
fn real_npm_and_pypi_servers_are_listed_and_not_flagged() {
    let f = Fixture::new();
    let node = which("node");
    let modules = node_modules();
    let time = python().parent().expect("venv bin").join("mcp-server-time");
    assert!(
        time.exists(),
        "mcp-server-time is installed by scripts/test"
    );
    std::fs::create_dir_all(f.path("proj/notes")).expect("mkdir");
    let config = f.path("proj/real.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "everything": {"command": node, "args": [modules.join("@modelcontextprotocol/server-everything/dist/index.js")]},
            "filesystem": {"command": node, "args": [modules.join("@modelcontextprotocol/server-filesystem/dist/index.js"), f.path("proj/notes")]},
            "time": {"command": time, "args": ["--local-timezone", "UTC"]},
        }})
        .to_string(),
    )
    .expect("write");
    let o = f.scan(&[
        "--config",
        config.to_str().expect("UTF-8"),
        "--yes",
        "--timeout",
        "60",
        "--format",
        "json",
        "--fail-on",
        "high",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    for (name, tool) in [
        ("everything", "echo"),
        ("filesystem", "read_text_file"),
        ("time", "get_current_time"),
    ] {
        let s = r["servers"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or(Value::Null);
        let i = &s["inspection"];
        assert_eq!(i["status"], "listed", "{name}: {i}");
        assert!(
            i["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == tool)),
            "{name}: {i}"
        );
        let high: Vec<&Value> = s["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| matches!(i["severity"].as_str(), Some("high" | "critical")))
            .collect();
        assert!(high.is_empty(), "{name}: {high:?}");
    }
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A program on this process's PATH.
fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// Remote servers: the Python SDK's test server over Streamable HTTP and over HTTP+SSE (one
/// declared, one found by trying), and HTTP servers that lie, ask for sign-in or never answer.
#[test]
fn remote_servers_are_contacted_with_consent_and_judged() {
    let f = Fixture::new();
    let (http, sse, liar) = (free_port(), free_port(), free_port());
    let requests = f.path("requests.log");
    let log_arg = requests.display().to_string();
    let _http = http_test_server(
        "poisoned_server.py",
        &["--http", &http.to_string(), "--log-requests", &log_arg],
        http,
    );
    let _sse = http_test_server("poisoned_server.py", &["--sse", &sse.to_string()], sse);
    let _liar = http_test_server("sse_liar.py", &[&liar.to_string()], liar);
    // The TypeScript SDK's reference server, over both transports.
    let (ts_http, ts_sse) = (free_port(), free_port());
    let _ts_http = everything_http_server("streamableHttp", ts_http);
    let _ts_sse = everything_http_server("sse", ts_sse);
    // Accepts connections (the kernel does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    // Answers every request with a demand to sign in.
    let locked = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let locked_port = locked.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for mut c in locked.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let config = f.path("proj/remote.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "streamable": {"type": "http", "url": format!("http://127.0.0.1:{http}/mcp"),
                           "headers": {"X-Mcpwall-Test": "${MCPWALL_SCAN_TEST_VALUE}"}},
            "guessed": {"url": format!("http://127.0.0.1:{sse}/sse")},
            "ts-http": {"type": "http", "url": format!("http://127.0.0.1:{ts_http}/mcp")},
            "ts-sse": {"url": format!("http://127.0.0.1:{ts_sse}/sse")},
            "liar": {"type": "sse", "url": format!("http://127.0.0.1:{liar}/sse")},
            "silent": {"type": "http", "url": format!("http://127.0.0.1:{silent_port}/mcp")},
            "locked": {"type": "http", "url": format!("http://localhost:{locked_port}/mcp"),
                       "headers": {"Authorization": "Bearer ${input:token}"}},
            "cleartext": {"type": "http", "url": "http://10.255.255.1/mcp",
                          "headers": {"Authorization": "Bearer abc"}},
        }})
        .to_string(),
    )
    .expect("write");
    let config = config.to_str().expect("UTF-8");
    let vars = [("MCPWALL_SCAN_TEST_VALUE", "scan-was-here")];
    let server = |r: &Value, name: &str| -> Value {
        r["servers"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // Without consent, nothing is contacted.
    let o = f.scan_with(&["--config", config, "--format", "json"], &vars);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let why = server(&r, "streamable")["inspection"]["reason"].clone();
    assert!(why.as_str().is_some_and(|w| w.contains("--yes")), "{why}");
    let log = std::fs::read_to_string(&requests).unwrap_or_default();
    assert!(log.is_empty(), "contacted without consent: {log}");
    let started = std::time::Instant::now();
    let o = f.scan_with(
        &[
            "--config",
            config,
            "--yes",
            "--header-vars",
            "--timeout",
            "4",
            "--format",
            "json",
        ],
        &vars,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    for name in ["streamable", "guessed"] {
        let s = server(&r, name);
        let i = &s["inspection"];
        assert_eq!(i["status"], "listed", "{name}: {s}");
        assert_eq!(i["server"], "poisoned-demo", "{name}");
        assert!(i["tools"].as_array().is_some_and(|t| t.len() == 5), "{i}");
        let ids: Vec<&str> = s["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
            .collect();
        assert!(
            ids.iter().any(|i| i.starts_with("tool_poisoning.")),
            "{name}: {ids:?}"
        );
    }
    for name in ["ts-http", "ts-sse"] {
        let i = server(&r, name)["inspection"].clone();
        assert_eq!(i["status"], "listed", "{name}: {i}");
        assert!(
            i["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "echo")),
            "{name}: {i}"
        );
    }
    // The header was filled in from the environment and sent; the session was ended.
    let log = std::fs::read_to_string(&requests).expect("the server logged its requests");
    assert!(
        log.lines()
            .any(|l| l.starts_with("POST /mcp - ") && l.ends_with(" test=scan-was-here")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("DELETE /mcp ") && !l.starts_with("DELETE /mcp - ")),
        "{log}"
    );
    let failed = |name: &str, says: &str| {
        let s = server(&r, name);
        assert_eq!(s["inspection"]["status"], "failed", "{name}: {s}");
        let why = s["inspection"]["reason"].as_str().unwrap_or("");
        assert!(why.contains(says), "{name}: {why}");
    };
    failed("liar", "another origin");
    failed("silent", "in time");
    failed("locked", "sign-in (HTTP 401)");
    failed("locked", "${input:token}");
    let cleartext = server(&r, "cleartext");
    assert_eq!(cleartext["inspection"]["status"], "skipped", "{cleartext}");
    assert!(
        cleartext["inspection"]["reason"]
            .as_str()
            .is_some_and(|w| w.contains("plain HTTP")),
        "{cleartext}"
    );
    // Agreed to once, contacted again without asking; without --header-vars, a header that
    // needs a variable is not sent.
    let sent = |log: &str| log.matches(" test=").count();
    let before = sent(&log);
    let lines = log.lines().count();
    let o = f.scan_with(
        &["--config", config, "--format", "json", "--timeout", "4"],
        &vars,
    );
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(server(&r, "guessed")["inspection"]["status"], "listed");
    assert_eq!(server(&r, "streamable")["inspection"]["status"], "listed");
    let log = std::fs::read_to_string(&requests).expect("the server logged its requests");
    assert_eq!(sent(&log), before, "{log}");
    assert!(log.lines().count() > lines + 2, "{log}");
    drop(silent);
}

/// Listed tools against the gateway's pins: recorded with --update-pins, then a silent update
/// of the server (a changed description, a new tool) is reported as a rug pull.
#[test]
fn pins_show_what_changed_since_approval() {
    let f = Fixture::new();
    let lock = f.path("mcpwall.lock");
    let lock = lock.to_str().expect("UTF-8");
    let config = f.path("proj/servers.json");
    let write = |extra: &[&str]| {
        let mut args = vec![peers().join("poisoned_server.py").display().to_string()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        std::fs::write(
            &config,
            serde_json::json!({"mcpServers": {"demo": {"command": python().display().to_string(), "args": args}}})
                .to_string(),
        )
        .expect("write");
    };
    let config = config.to_str().expect("UTF-8");
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "--config",
            config,
            "--yes",
            "--lock",
            lock,
            "--timeout",
            "20",
            "--format",
            "json",
        ];
        args.extend(extra);
        let o = f.scan(&args);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)))
    };
    let demo = |r: &Value| r["servers"][0].clone();
    let ids = |r: &Value| -> Vec<String> {
        demo(r)["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    write(&[]);
    let r = run(&[]);
    assert_eq!(
        demo(&r)["inspection"]["pins"],
        "unpinned",
        "{}",
        demo(&r)["inspection"]
    );
    let r = run(&["--update-pins"]);
    assert_eq!(demo(&r)["inspection"]["pins"], "recorded");
    let text = std::fs::read_to_string(lock).expect("the lockfile");
    assert!(text.contains("[servers.demo.tools.add]"), "{text}");
    let r = run(&[]);
    assert_eq!(demo(&r)["inspection"]["pins"], "pinned");
    assert!(
        !ids(&r)
            .iter()
            .any(|i| i.starts_with("scan.rug") || i.starts_with("scan.tool_"))
    );
    // The same server after a silent update.
    write(&["--rug-pull"]);
    let r = run(&[]);
    assert_eq!(demo(&r)["inspection"]["pins"], "changed");
    let found = ids(&r);
    assert!(found.iter().any(|i| i == "scan.rug_pull"), "{found:?}");
    assert!(found.iter().any(|i| i == "scan.tool_added"), "{found:?}");
    let rug = demo(&r)["issues"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == "scan.rug_pull").cloned())
        .unwrap_or_default();
    assert!(
        rug["message"].as_str().is_some_and(|m| m.contains("`add`")),
        "{rug}"
    );
    // The lockfile was only read.
    assert_eq!(std::fs::read_to_string(lock).expect("lock"), text);
    // --update-pins does not approve the change (nobody was shown it): the approved pins stay,
    // the change waits for `pins approve`, and the report still names it.
    let r = run(&["--update-pins"]);
    assert_eq!(demo(&r)["inspection"]["pins"], "pending approval");
    assert!(ids(&r).iter().any(|i| i == "scan.rug_pull"));
    let after = std::fs::read_to_string(lock).expect("lock");
    let approved = |t: &str| -> String {
        let lock: toml::Value = toml::from_str(t).expect("TOML");
        lock["servers"]["demo"]["tools"].to_string()
    };
    assert_eq!(approved(&after), approved(&text));
    assert!(after.contains("[servers.demo.pending.add]"), "{after}");
    let r = run(&[]);
    assert_eq!(demo(&r)["inspection"]["pins"], "changed");
    // Approved by a person, who is shown the change: pinned.
    let o = Command::new(env!("CARGO_BIN_EXE_mcpwall"))
        .args([
            "pins", "approve", "--server", "demo", "--yes", "--lock", lock,
        ])
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("add"), "{}", stdout(&o));
    let r = run(&[]);
    assert_eq!(demo(&r)["inspection"]["pins"], "pinned", "{}", demo(&r));
}

/// `mcpwall install` rewrites each stdio server to start through `mcpwall run`, in place
/// (comments kept), with a backup, idempotently; `uninstall` undoes it.
#[test]
fn install_and_uninstall_rewrite_in_place() {
    let f = Fixture::new();
    let servers = |f: &Fixture| -> Vec<(String, String, Vec<String>)> {
        let o = f.scan(&["--offline", "--format", "json"]);
        let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        r["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| {
                (
                    format!(
                        "{}:{}",
                        s["file"].as_str().unwrap_or(""),
                        s["name"].as_str().unwrap_or("")
                    ),
                    s["command"].as_str().unwrap_or("").to_owned(),
                    s["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| a.as_str().unwrap_or("").to_owned())
                        .collect(),
                )
            })
            .collect()
    };
    let install = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_mcpwall"))
            .args(args)
            .current_dir(f.path("proj"))
            .env("HOME", f.path("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env("NO_COLOR", "1")
            .output()
            .expect("runs")
    };
    let settings = f.path("home/.config/Code/User/settings.json");
    let original = std::fs::read_to_string(&settings).expect("read");
    let before = servers(&f);
    // A dry run writes nothing.
    let o = install(&["install", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("dry run"), "{}", stdout(&o));
    assert!(!stdout(&o).contains(TOKEN), "a credential in the diff");
    assert_eq!(servers(&f), before);
    // Installed: stdio servers through mcpwall (Codex's TOML too), remote ones left.
    let codex = f.path("home/.codex/config.toml");
    let codex_before = std::fs::read_to_string(&codex).expect("read");
    let o = install(&["install"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains(TOKEN), "a credential in the diff");
    let mcpwall = std::fs::canonicalize(env!("CARGO_BIN_EXE_mcpwall")).expect("path");
    let after = servers(&f);
    let github = after
        .iter()
        .find(|s| s.0.ends_with(":github"))
        .expect("github");
    assert_eq!(Path::new(&github.1), mcpwall);
    assert_eq!(
        github.2,
        [
            "run",
            "--name=github",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-github"
        ]
    );
    assert!(
        after
            .iter()
            .any(|s| s.0.ends_with(":remote") && s.1.is_empty())
    );
    let shell = after
        .iter()
        .find(|s| s.0.ends_with(":shell"))
        .expect("shell");
    assert_eq!(Path::new(&shell.1), mcpwall);
    assert_eq!(shell.2[..4], ["run", "--name=shell", "--", "bash"]);
    assert!(
        std::fs::read_to_string(&codex)
            .expect("read")
            .starts_with("model = \"o3\"\n\n[mcp_servers.shell]\ncommand = \""),
    );
    // In place: the comments of VS Code's settings are still there; the file as it was is kept.
    let text = std::fs::read_to_string(&settings).expect("read");
    assert!(text.contains("// comments and trailing commas"), "{text}");
    // In the state directory, the owner's alone, named by the file's path; none beside the
    // files (a project's would sit in its working tree).
    let backups = f.path("home/.local/state/mcpwall/backups");
    let kept = |of: &Path| -> Vec<PathBuf> {
        let stem = of.to_str().expect("utf-8").replace('/', "%2F");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&backups)
            .expect("backups")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{stem}.")))
            })
            .collect();
        v.sort();
        v
    };
    let settings_real = std::fs::canonicalize(&settings).expect("path");
    let [backup] = &kept(&settings_real)[..] else {
        panic!("one backup of {}", settings.display());
    };
    assert_eq!(std::fs::read_to_string(backup).expect("backup"), original);
    assert!(out.contains(&backup.display().to_string()), "{out}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&backups), 0o700);
        assert_eq!(mode(backup), 0o600);
    }
    assert!(
        std::fs::read_dir(f.path("proj")).expect("proj").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .contains("backup")),
        "a backup in the project"
    );
    // Again: nothing to do.
    let o = install(&["install"]);
    assert!(
        stdout(&o).contains("0 server(s) in 0 file(s)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(servers(&f), after);
    // Uninstalled: the servers as they were.
    let o = install(&["uninstall"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(servers(&f), before);
    assert_eq!(std::fs::read_to_string(&settings).expect("read"), original);
    assert_eq!(std::fs::read_to_string(&codex).expect("read"), codex_before);
    // Installed again after a server was added: a second backup; the first (the file as it was
    // before mcpwall ever changed it) stays.
    let mcp = f.path("proj/.mcp.json");
    let mcp_real = std::fs::canonicalize(&mcp).expect("path");
    let first = kept(&mcp_real);
    assert_eq!(first.len(), 1, "{first:?}");
    let first_text = std::fs::read_to_string(&first[0]).expect("read");
    let grown = std::fs::read_to_string(&mcp).expect("read").replacen(
        "{\"mcpServers\": {",
        "{\"mcpServers\": {\"added\": {\"command\": \"uvx\", \"args\": [\"x==1\"], \"env\": {\"HOME\": \".\"}},",
        1,
    );
    assert!(grown.contains("added"));
    std::fs::write(&mcp, &grown).expect("write");
    let o = install(&["install"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // Its environment would move mcpwall's lockfile into the project: the line names the
    // installing user's.
    let added = servers(&f);
    let added = added
        .iter()
        .find(|s| s.0.ends_with(":added"))
        .expect("added");
    let lock = format!(
        "--lock={}",
        f.path("home/.local/state/mcpwall/mcpwall.lock").display()
    );
    assert_eq!(added.2[..4], ["run", "--name=added", lock.as_str(), "--"]);
    let both = kept(&mcp_real);
    assert_eq!(both.len(), 2, "{both:?} {}", stdout(&o));
    assert!(both.contains(&first[0]));
    assert_eq!(
        std::fs::read_to_string(&first[0]).expect("read"),
        first_text
    );
    let second = both.iter().find(|p| **p != first[0]).expect("second");
    assert_eq!(std::fs::read_to_string(second).expect("read"), grown);
    // A state directory that is a link (planted, or a mistake): nothing is written through
    // it, and the file is not changed.
    std::fs::write(&mcp, &grown).expect("write");
    let victim = f.path("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    std::fs::rename(&backups, f.path("backups-moved")).expect("mv");
    std::os::unix::fs::symlink(&victim, &backups).expect("symlink");
    let o = install(&["install"]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains("not a directory"), "{}", stdout(&o));
    assert_eq!(std::fs::read_dir(&victim).expect("victim").count(), 0);
    assert_eq!(std::fs::read_to_string(&mcp).expect("read"), grown);
    std::fs::remove_file(&backups).expect("rm");
    std::fs::rename(f.path("backups-moved"), &backups).expect("mv");
    let o = install(&["uninstall"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // A configuration that is a symlink is not replaced by a file.
    std::fs::rename(f.path("proj/.mcp.json"), f.path("dotfiles-mcp.json")).expect("mv");
    std::os::unix::fs::symlink(f.path("dotfiles-mcp.json"), f.path("proj/.mcp.json"))
        .expect("symlink");
    let o = install(&["install"]);
    assert!(
        stdout(&o).contains("a symbolic link: not changed"),
        "{}",
        stdout(&o)
    );
    assert!(
        std::fs::symlink_metadata(f.path("proj/.mcp.json"))
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    let _ = install(&["uninstall"]);
    // A file given that is not valid: an error, nothing written.
    let bad = f.path("bad.json");
    std::fs::write(&bad, "{\"mcpServers\": {").expect("write");
    let o = install(&["install", "--config", bad.to_str().expect("UTF-8")]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert_eq!(
        std::fs::read_to_string(&bad).expect("read"),
        "{\"mcpServers\": {"
    );
}
