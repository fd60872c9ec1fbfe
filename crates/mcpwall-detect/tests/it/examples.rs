//! Every built-in rule's own `match` and `no_match` examples.

use mcpwall_detect::Engine;

#[test]
fn builtin_rule_examples_pass() {
    let engine = Engine::builtin().expect("built-in rules compile");
    let results = engine.check_examples(&|_| true);
    assert!(!results.is_empty());
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            format!(
                "{} ({}) should {}match on {}: {:?}",
                r.rule_id,
                if r.should_match { "match" } else { "no_match" },
                if r.should_match { "" } else { "not " },
                r.surface,
                r.text
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}
