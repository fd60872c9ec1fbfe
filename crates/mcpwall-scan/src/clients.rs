//! Where MCP clients keep their server configurations, on Linux, macOS and Windows.

use std::path::PathBuf;

use serde::Serialize;

/// The operating systems whose paths are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    /// The one this binary runs on (anything not macOS or Windows looks like Linux).
    pub fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::Macos
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// Where to look: the user's directories and the project's.
#[derive(Clone, Debug)]
pub struct Places {
    pub os: Os,
    pub home: PathBuf,
    /// `%APPDATA%` on Windows (default `HOME\AppData\Roaming`).
    pub appdata: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` on Linux (default `HOME/.config`).
    pub xdg_config: Option<PathBuf>,
    /// A project whose own configuration files (`.mcp.json`, `.vscode/mcp.json`, ...) are read.
    pub project: Option<PathBuf>,
}

impl Places {
    /// The user's configuration directory as applications use it (`~/.config`,
    /// `~/Library/Application Support`, `%APPDATA%`).
    fn app_config(&self) -> PathBuf {
        match self.os {
            Os::Linux => self
                .xdg_config
                .clone()
                .unwrap_or_else(|| self.home.join(".config")),
            Os::Macos => self.home.join("Library/Application Support"),
            Os::Windows => self
                .appdata
                .clone()
                .unwrap_or_else(|| self.home.join("AppData").join("Roaming")),
        }
    }
}

/// A place a client's servers may be configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The client (`claude-desktop`, `cursor`, ...).
    pub client: &'static str,
    /// What this file is to the client (`user`, `project`, `settings`, ...).
    pub scope: &'static str,
    pub path: PathBuf,
}

/// The clients known, by the name `--client` takes.
pub const CLIENTS: &[&str] = &[
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "windsurf",
    "gemini-cli",
    "codex",
    "zed",
    "continue",
    "cline",
    "roo-code",
    "lm-studio",
];

/// Every place a known client may keep MCP servers, existing or not.
pub fn locations(p: &Places) -> Vec<Location> {
    let home = &p.home;
    let app = p.app_config();
    let mut out = Vec::new();
    let mut add = |client: &'static str, scope: &'static str, path: PathBuf| {
        out.push(Location {
            client,
            scope,
            path,
        });
    };
    add(
        "claude-desktop",
        "user",
        app.join("Claude").join("claude_desktop_config.json"),
    );
    add("claude-code", "user", home.join(".claude.json"));
    add(
        "claude-code",
        "settings",
        home.join(".claude").join("settings.json"),
    );
    add("cursor", "user", home.join(".cursor").join("mcp.json"));
    // VS Code and the extensions that keep their own lists in its storage.
    for code in ["Code", "Code - Insiders", "VSCodium"] {
        let user = app.join(code).join("User");
        add("vscode", "user", user.join("mcp.json"));
        add("vscode", "settings", user.join("settings.json"));
        let storage = user.join("globalStorage");
        add(
            "cline",
            "user",
            storage
                .join("saoudrizwan.claude-dev")
                .join("settings")
                .join("cline_mcp_settings.json"),
        );
        add(
            "roo-code",
            "user",
            storage
                .join("rooveterinaryinc.roo-cline")
                .join("settings")
                .join("mcp_settings.json"),
        );
    }
    add(
        "windsurf",
        "user",
        home.join(".codeium")
            .join("windsurf")
            .join("mcp_config.json"),
    );
    add(
        "gemini-cli",
        "user",
        home.join(".gemini").join("settings.json"),
    );
    add("codex", "user", home.join(".codex").join("config.toml"));
    let zed = match p.os {
        // Zed keeps ~/.config/zed on macOS too.
        Os::Linux | Os::Macos => home.join(".config").join("zed"),
        Os::Windows => app.join("Zed"),
    };
    add("zed", "user", zed.join("settings.json"));
    add(
        "continue",
        "user",
        home.join(".continue").join("config.json"),
    );
    add(
        "continue",
        "user",
        home.join(".continue").join("config.yaml"),
    );
    add("lm-studio", "user", home.join(".lmstudio").join("mcp.json"));
    if let Some(project) = &p.project {
        for (client, rel) in [
            ("claude-code", ".mcp.json"),
            ("cursor", ".cursor/mcp.json"),
            ("vscode", ".vscode/mcp.json"),
            ("gemini-cli", ".gemini/settings.json"),
            ("roo-code", ".roo/mcp.json"),
            ("zed", ".zed/settings.json"),
        ] {
            add(client, "project", project.join(rel));
        }
        // Continue: one file per server (or a few) in .continue/mcpServers/: YAML blocks, or
        // JSON in other clients' shape.
        let dir = project.join(".continue").join("mcpServers");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension()
                        .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
                })
                .collect();
            files.sort();
            for f in files {
                add("continue", "project", f);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn places(os: Os) -> Places {
        Places {
            os,
            home: PathBuf::from("/h"),
            appdata: None,
            xdg_config: None,
            project: Some(PathBuf::from("/p")),
        }
    }

    fn has(ls: &[Location], client: &str, path: &str) -> bool {
        ls.iter()
            .any(|l| l.client == client && l.path == Path::new(path))
    }

    #[test]
    fn paths_per_system() {
        let l = locations(&places(Os::Linux));
        assert!(has(
            &l,
            "claude-desktop",
            "/h/.config/Claude/claude_desktop_config.json"
        ));
        assert!(has(&l, "vscode", "/h/.config/Code/User/mcp.json"));
        assert!(has(&l, "codex", "/h/.codex/config.toml"));
        assert!(has(&l, "claude-code", "/p/.mcp.json"));
        let m = locations(&places(Os::Macos));
        assert!(has(
            &m,
            "claude-desktop",
            "/h/Library/Application Support/Claude/claude_desktop_config.json"
        ));
        assert!(has(&m, "zed", "/h/.config/zed/settings.json"));
        let w = locations(&places(Os::Windows));
        assert!(has(
            &w,
            "cline",
            "/h/AppData/Roaming/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
        ));
        // Every client named has at least one place.
        for c in CLIENTS {
            assert!(l.iter().any(|x| x.client == *c), "{c}");
        }
    }
}
