//! Every built-in rule's own `match` and `no_match` examples.

#[test]
fn builtin_rule_examples_pass() {
    let results = crate::engine().check_examples(&|_| true);
    assert!(results.len() > 300, "only {} examples", results.len());
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            format!(
                "{} should {}match on {}: {:?}",
                r.rule_id,
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

#[test]
fn every_rule_has_examples_of_both_kinds() {
    for r in crate::engine().rules() {
        assert!(
            !r.examples_match.is_empty(),
            "{} has no match example",
            r.id
        );
        assert!(
            !r.examples_no_match.is_empty(),
            "{} has no no_match example",
            r.id
        );
    }
}

#[test]
fn every_builtin_pattern_compiles() {
    // Built-in patterns compile on first use; a failure there would silently disable a rule.
    let failed = crate::engine().warm_up();
    assert!(failed.is_empty(), "{failed:?}");
}
