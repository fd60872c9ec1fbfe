//! The container image definition and the macOS Seatbelt profile in `contrib/`: neither can be
//! built or run here (no Docker daemon, no macOS), so their security properties are checked as
//! text.

use std::path::PathBuf;

use serde_json::Value;

fn contrib(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Dockerfile instructions (continuation lines joined, comments dropped), split by stage.
fn stages(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        if line.ends_with('\\') {
            pending.push(' ');
            continue;
        }
        let (op, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
        let (op, rest) = (op.to_ascii_uppercase(), rest.trim().to_owned());
        if op == "FROM" {
            out.push(Vec::new());
        }
        out.last_mut().expect("FROM comes first").push((op, rest));
        pending.clear();
    }
    out
}

#[test]
fn the_image_runs_as_a_user_without_a_shell() {
    let stages = stages(&contrib("container/Dockerfile"));
    assert!(stages.len() >= 2, "a build stage and a run stage");
    let run = stages.last().expect("a stage");
    let from = &run[0].1;
    assert!(from.contains("distroless"), "no shell in the base: {from}");
    // A RUN needs a shell: the final stage has none.
    assert!(run.iter().all(|(op, _)| op != "RUN"), "{run:?}");
    let user = run
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.clone())
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric uid");
    assert_ne!(uid, 0, "not root");
    let entry = run
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry.1).expect("exec form, not a shell line");
    assert_eq!(entry, ["/usr/local/bin/mcpwall"]);
    // Built with the pinned toolchain, from the lockfile.
    let toolchain = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rust-toolchain.toml"),
    )
    .expect("toolchain file");
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"').to_owned())
        .expect("a pinned channel");
    let build = &stages[0];
    assert!(
        build[0].1.starts_with(&format!("rust:{channel}")),
        "{:?}",
        build[0]
    );
    assert!(
        build
            .iter()
            .any(|(op, r)| op == "RUN" && r.contains("--locked")),
        "{build:?}"
    );

    // Run read-only, without capabilities or new privileges, as that user, on loopback.
    let compose: Value =
        serde_json::from_str(&contrib("container/compose.yaml")).expect("JSON (which is YAML)");
    let svc = &compose["services"]["mcpwall"];
    assert_eq!(svc["read_only"], true);
    assert_eq!(svc["cap_drop"], serde_json::json!(["ALL"]));
    assert!(
        svc["security_opt"]
            .as_array()
            .is_some_and(|o| o.iter().any(|v| v == "no-new-privileges:true")),
        "{svc}"
    );
    assert_eq!(svc["user"], user.as_str());
    for p in svc["ports"].as_array().expect("ports") {
        assert!(
            p.as_str().is_some_and(|p| p.starts_with("127.0.0.1:")),
            "{p}"
        );
    }
}

#[test]
fn the_macos_profile_denies_by_default() {
    let sb = contrib("macos/mcpwall-server.sb");
    // Comments out, then the forms balance.
    let code: String = sb
        .lines()
        .map(|l| l.split(';').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut depth = 0i32;
    for c in code.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "unbalanced");
    }
    assert_eq!(depth, 0, "unbalanced");
    assert!(code.contains("(deny default)"));
    assert!(!code.contains("(allow default)"));
    // Top-level forms, to see what each allows.
    let mut forms = Vec::new();
    let (mut start, mut depth) = (0, 0);
    for (i, c) in code.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    forms.push(code[start..=i].to_owned());
                }
            }
            _ => {}
        }
    }
    for f in &forms {
        if f.starts_with("(allow network") {
            assert!(f.contains("unix"), "network beyond Unix sockets: {f}");
        }
        if f.starts_with("(allow process-exec") {
            assert!(
                !f.contains("\"RW\""),
                "execution from the writable tree: {f}"
            );
        }
        if f.starts_with("(allow file-write") {
            assert!(!f.contains("\"RO\"") && !f.contains("\"HOME\""), "{f}");
        }
    }
    assert!(forms.iter().any(|f| f.starts_with("(allow file-write")));
}
