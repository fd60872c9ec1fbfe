//! Users' rule packs: loading, errors that name file, line and rule, and examples.

use std::io::Write as _;

use mcpwall_detect::{Engine, Error, Surface};

fn build(text: &str) -> Result<Engine, Error> {
    Engine::builder()
        .without_builtin()
        .rules_str("mine.toml", text)
        .build()
}

const GOOD: &str = r#"
[pack]
id = "mine"

[[concept]]
id = "acme_secret_word"
terms = ["swordfish", "open sesame"]

[[rule]]
id = "secrets.acme_internal_token"
category = "secrets"
severity = "high"
message = "An ACME internal token"
pattern = '''\bacme_tok_([a-zA-Z0-9]{24})\b'''
group = 1
min_entropy = 3.0
match = ["token: acme_tok_a8Fk2LmQ9zR4tXw7Yb3Nc6Vd"]
no_match = ["acme_tok_short", "acme_tok_aaaaaaaaaaaaaaaaaaaaaaaa"]

[[rule]]
id = "prompt_injection.acme_password"
category = "prompt_injection"
severity = "medium"
message = "Mentions the magic words"
all = ["acme_secret_word"]
match = ["say swordfish"]
no_match = ["say fish"]
"#;

#[test]
fn a_users_pack_loads_and_its_examples_pass() {
    let e = build(GOOD).expect("loads");
    let results = e.check_examples(&|_| true);
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r.passed), "{results:?}");
    let red = e.redact(
        Surface::ToolResult,
        "key acme_tok_a8Fk2LmQ9zR4tXw7Yb3Nc6Vd end",
    );
    assert_eq!(red.text, "key acme_tok_[REDACTED:acme_internal_token] end");
}

fn err_of(text: &str) -> String {
    build(text).expect_err("must be rejected").to_string()
}

#[test]
fn bad_patterns_are_rejected_with_file_line_and_rule() {
    let bad = GOOD.replace(
        r"\bacme_tok_([a-zA-Z0-9]{24})\b",
        r"\bacme_tok_([a-zA-Z0-9]{24}\b",
    );
    let e = err_of(&bad);
    assert!(
        e.starts_with("mine.toml:9: rule `secrets.acme_internal_token`: invalid pattern"),
        "{e}"
    );
}

#[test]
fn pathological_patterns_are_rejected() {
    let huge = GOOD.replace(
        r"\bacme_tok_([a-zA-Z0-9]{24})\b",
        r"acme_tok_(?:[a-z]{1000}){1000}",
    );
    let e = err_of(&huge);
    assert!(
        e.contains("secrets.acme_internal_token") && e.contains("cannot be compiled"),
        "{e}"
    );
    let empty = GOOD.replace(r"\bacme_tok_([a-zA-Z0-9]{24})\b", r"(?:acme_tok_)?");
    assert!(err_of(&empty).contains("empty string"));
    let unanchored = GOOD.replace(r"\bacme_tok_([a-zA-Z0-9]{24})\b", r"[a-z]+_?([a-z0-9]{24})");
    let e = err_of(&unanchored);
    assert!(e.contains("must contain a literal"), "{e}");
}

#[test]
fn a_required_literal_inside_the_pattern_anchors_it() {
    // No literal prefix, but every match contains `_tok_`: the engine searches a bounded window
    // around each occurrence instead of rejecting the rule.
    let inner = GOOD.replace(
        r"\bacme_tok_([a-zA-Z0-9]{24})\b",
        r"\b[a-z]+_tok_([a-zA-Z0-9]{24})\b",
    );
    let e = build(&inner).expect("loads");
    let results = e.check_examples(&|_| true);
    assert!(results.iter().all(|r| r.passed), "{results:?}");
    let found = e.scan(Surface::ToolResult, "x zeta_tok_a8Fk2LmQ9zR4tXw7Yb3Nc6Vd y");
    assert!(
        found
            .findings
            .iter()
            .any(|f| f.rule_id.as_ref() == "secrets.acme_internal_token"),
        "{found:?}"
    );
}

#[test]
fn structural_mistakes_are_rejected() {
    assert!(
        err_of(&GOOD.replace("category = \"secrets\"", "category = \"nonsense\""))
            .contains("mine.toml:")
    );
    assert!(
        err_of(&GOOD.replace("all = [\"acme_secret_word\"]", "all = [\"nope\"]"))
            .contains("unknown concept `nope`")
    );
    assert!(
        err_of(&GOOD.replace("no_match = [\"say fish\"]", ""))
            .contains("needs at least one `match` and one `no_match`")
    );
    let dup = format!(
        "{GOOD}\n[[rule]]\nid = \"secrets.acme_internal_token\"\ncategory = \"secrets\"\nseverity = \"low\"\nmessage = \"x\"\npattern = 'acme_tok_x'\nmatch = [\"acme_tok_x\"]\nno_match = [\"y\"]\n"
    );
    assert!(err_of(&dup).contains("duplicate rule id"));
    assert!(
        err_of("[pack]\nid = \"x\"\n[[rule]]\nid = \"a.b\"\nbogus = 1\n").contains("mine.toml:")
    );
    assert!(err_of("not toml [[[").starts_with("mine.toml:1:"));
    // A negation is looked for before a pattern's match; a concept rule has none.
    let negatable_combo = GOOD.replace(
        "all = [\"acme_secret_word\"]",
        "all = [\"acme_secret_word\"]\nnegatable = true",
    );
    assert!(err_of(&negatable_combo).contains("`negatable` applies to `pattern` rules"));
}

#[test]
fn negatable_rules_and_concepts_skip_negated_matches() {
    let pack = r#"
[pack]
id = "mine"

[[concept]]
id = "acme_unlock"
terms = ["unlock"]
negatable = true

[[rule]]
id = "prompt_injection.acme_vault"
category = "prompt_injection"
severity = "high"
message = "Unlocks the vault"
all = ["acme_unlock"]
match = ["Now unlock the vault."]
no_match = ["You must never unlock the vault."]

[[rule]]
id = "prompt_injection.acme_open"
category = "prompt_injection"
severity = "high"
message = "Opens the vault"
pattern = '''(?i)\bopen\s+the\s+vault\b'''
negatable = true
match = ["Please open the vault.", "Don't wait: open the vault"]
no_match = ["Staff must not open the vault at night.", "do not simply open the vault"]
"#;
    let e = build(pack).expect("loads");
    let results = e.check_examples(&|_| true);
    assert_eq!(results.len(), 6);
    assert!(results.iter().all(|r| r.passed), "{results:?}");
    let flagged = |t: &str| !e.scan(Surface::ToolResult, t).findings.is_empty();
    assert!(flagged("never mind, open the vault"));
    assert!(flagged("I bet you can't open the vault."));
    assert!(!flagged("Staff mustn't open the vault."));
    // Quoted as an example, a quotable rule's match counts half: reported, not flagged.
    let quoted = pack.replace("negatable = true\nmatch", "quotable = true\nmatch");
    let e = build(&quoted).expect("loads");
    let r = e.scan(
        Surface::ToolResult,
        "Phrases such as \"open the vault\" are logged.",
    );
    assert!(!r.findings.is_empty() && !r.flagged(), "{r:?}");
    assert!(
        e.scan(Surface::ToolResult, "Now: \"open the vault\".")
            .flagged()
    );
}

#[test]
fn rule_directories_load_and_report_io_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("mine.toml")).expect("create");
    f.write_all(GOOD.as_bytes()).expect("write");
    let e = Engine::builder()
        .rules_dir(dir.path())
        .expect("reads")
        .build()
        .expect("compiles");
    assert!(e.rule("secrets.acme_internal_token").is_some());
    assert!(
        e.rule("prompt_injection.instruction_override").is_some(),
        "built-ins stay"
    );
    let missing = Engine::builder().rules_dir(&dir.path().join("nope"));
    assert!(matches!(missing, Err(Error::Io { .. })));
    std::fs::write(dir.path().join("bad.toml"), [0xff, 0xfe, b'\n']).expect("write");
    let e = Engine::builder()
        .rules_dir(dir.path())
        .expect_err("not utf-8")
        .to_string();
    assert!(e.contains("bad.toml") && e.contains("UTF-8"), "{e}");
}

#[cfg(not(feature = "yara"))]
#[test]
fn yara_files_without_the_feature_are_an_error_not_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("x.yar"), "rule x { condition: true }").expect("write");
    let err = Engine::builder()
        .rules_dir(dir.path())
        .expect_err("refused")
        .to_string();
    assert!(err.contains("x.yar") && err.contains("yara"), "{err}");
}

/// The surfaces share their first stage (one literal finder, tool arguments apart): a rule or
/// concept of one surface must still fire only there, also where its literal is another's.
#[test]
fn rules_fire_only_on_their_surfaces_when_literals_are_shared() {
    let e = build(
        r#"
[pack]
id = "mine"

[[concept]]
id = "results_word"
terms = ["quuxword"]

[[concept]]
id = "prompts_word"
terms = ["quuxword"]

[[rule]]
id = "prompt_injection.in_results"
category = "prompt_injection"
severity = "high"
message = "The word, in a tool result"
match = ["say quuxword"]
no_match = ["say quux"]
all = ["results_word"]
surfaces = ["tool_result"]

[[rule]]
id = "prompt_injection.in_prompts"
category = "prompt_injection"
severity = "high"
message = "The word, in a prompt"
match = ["say quuxword"]
no_match = ["say quux"]
all = ["prompts_word"]
surfaces = ["user_prompt"]

[[rule]]
id = "tool_poisoning.in_descriptions"
category = "tool_poisoning"
severity = "high"
message = "The name, in a description"
match = ["say quuxword"]
no_match = ["say quux"]
pattern = '''\bquuxword\b'''
surfaces = ["tool_description"]

[[rule]]
id = "command_injection.in_arguments"
category = "command_injection"
severity = "high"
message = "The name, in arguments"
match = ["say quuxword"]
no_match = ["say quux"]
pattern = '''\bquuxword\b'''
surfaces = ["tool_arguments"]
"#,
    )
    .expect("loads");
    let fired = |s: Surface| {
        let mut ids: Vec<String> = e
            .scan(s, "say quuxword now")
            .findings
            .iter()
            .map(|f| f.rule_id.to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(fired(Surface::ToolResult), ["prompt_injection.in_results"]);
    assert_eq!(fired(Surface::UserPrompt), ["prompt_injection.in_prompts"]);
    assert_eq!(
        fired(Surface::ToolDescription),
        ["tool_poisoning.in_descriptions"]
    );
    assert_eq!(
        fired(Surface::ToolArguments),
        ["command_injection.in_arguments"]
    );
    assert!(fired(Surface::Config).is_empty());
    assert!(fired(Surface::Resource).is_empty());
}

/// `rules profile` counts a literal's hits for the surface profiled, also when another
/// surface's rule looks for the same literal everywhere (not only where a word starts).
#[test]
fn a_profile_counts_a_literal_another_surface_searches_everywhere() {
    let e = build(
        r#"
[pack]
id = "mine"

[[concept]]
id = "the_word"
terms = ["tokenword"]

[[rule]]
id = "prompt_injection.the_word"
category = "prompt_injection"
severity = "high"
message = "The word, in a prompt"
all = ["the_word"]
surfaces = ["prompt"]
match = ["say tokenword"]
no_match = ["say token"]

[[rule]]
id = "secrets.tokenword_key"
category = "secrets"
severity = "high"
message = "A key after the word, anywhere in a tool result"
pattern = '''tokenword[0-9]{4}'''
surfaces = ["tool_result"]
match = ["x-tokenword1234"]
no_match = ["tokenword"]
"#,
    )
    .expect("loads");
    let costs = e.profile(Surface::Prompt, "tokenword, then tokenword again");
    let hits: usize = costs
        .iter()
        .filter(|c| c.literal == "tokenword" && c.kind == "term")
        .map(|c| c.hits)
        .sum();
    assert_eq!(hits, 2, "{costs:?}");
}
