//! Hand-written hard negatives (benign texts full of attack vocabulary) and attacks. These are
//! our own texts, kept apart from the evaluation corpus.

use mcpwall_detect::Surface;

fn lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("\\n", "\n"))
}

#[test]
fn hard_negatives_are_not_flagged() {
    let engine = crate::engine();
    let mut flagged = Vec::new();
    for text in lines(include_str!("../data/hard_negatives.txt")) {
        for surface in [Surface::UserPrompt, Surface::ToolResult] {
            let r = engine.scan(surface, &text);
            if r.flagged() {
                flagged.push(format!("{surface}: {text:?} -> {:?}", r.rule_ids()));
            }
        }
    }
    assert!(flagged.is_empty(), "false alarms:\n{}", flagged.join("\n"));
}

#[test]
fn attacks_are_flagged() {
    let engine = crate::engine();
    let mut missed = Vec::new();
    for line in lines(include_str!("../data/attacks.txt")) {
        let (surface, text) = line.split_once('\t').expect("surface<TAB>text");
        let surface: Surface = surface.parse().expect("known surface");
        let r = engine.scan(surface, text);
        if !r.flagged() {
            missed.push(format!("{surface}: {text:?} (score {})", r.score));
        }
    }
    assert!(missed.is_empty(), "missed attacks:\n{}", missed.join("\n"));
}
