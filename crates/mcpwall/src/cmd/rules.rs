//! `mcpwall rules`.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use mcpwall_detect::{Category, Engine, MatchSpec, Rule};

use crate::Status;
use crate::cli::{Format, RulesArgs, RulesCommand};
use crate::output::{bold, dim, error_style, ok_style, severity_style};

pub(crate) fn run(args: RulesArgs) -> anyhow::Result<Status> {
    match args.command {
        RulesCommand::List {
            category,
            surface,
            concepts,
            stats,
            format,
            source,
        } => {
            let engine = super::engine(&source.rules)?;
            if stats {
                let st = engine.stats();
                let mut out = anstream::stdout().lock();
                match format {
                    Format::Json => {
                        serde_json::to_writer_pretty(&mut out, &st)?;
                        writeln!(out)?;
                    }
                    Format::Text => writeln!(
                        out,
                        "{} rules, {} concepts, {} patterns ({} anchored on their prefixes), {} literals ({} looked up at word starts), literal index {} KiB",
                        st.rules,
                        st.concepts,
                        st.patterns,
                        st.anchored_patterns,
                        st.literals,
                        st.word_start_literals,
                        st.literal_index_bytes / 1024
                    )?,
                }
                return Ok(Status::Clean);
            }
            if concepts {
                return list_concepts(&engine, format);
            }
            let category = category
                .map(|c| c.parse::<Category>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let rules: Vec<&Rule> = engine
                .rules()
                .iter()
                .filter(|r| category.is_none_or(|c| r.category == c))
                .filter(|r| surface.is_none_or(|s| r.surfaces.contains(s)))
                .collect();
            let mut out = anstream::stdout().lock();
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &rules)?;
                    writeln!(out)?;
                }
                Format::Text => {
                    for r in &rules {
                        let s = severity_style(r.severity);
                        writeln!(
                            out,
                            "{:<52} {:<21} {s}{:<8}{s:#} {}",
                            r.id,
                            r.category.as_str(),
                            r.severity.as_str(),
                            r.message
                        )?;
                    }
                    let d = dim();
                    writeln!(out, "{d}{} rules{d:#}", rules.len())?;
                }
            }
            Ok(Status::Clean)
        }
        RulesCommand::Show { id, format, source } => {
            let engine = super::engine(&source.rules)?;
            let Some(rule) = engine.rule(&id) else {
                bail!("no rule `{id}` (see `mcpwall rules list`)");
            };
            let mut out = anstream::stdout().lock();
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, rule)?;
                    writeln!(out)?;
                }
                Format::Text => show(&mut out, rule)?,
            }
            Ok(Status::Clean)
        }
        RulesCommand::Test { dir, verbose } => test(dir.as_deref(), verbose),
        RulesCommand::Profile {
            file,
            surface,
            top,
            source,
        } => {
            let engine = super::engine(&source.rules)?;
            let text = crate::input::read_text(&file, 256 << 20)?;
            let rows = engine.profile(surface, &text);
            let mut out = anstream::stdout().lock();
            let b = bold();
            writeln!(
                out,
                "{b}{:>8} {:>10}  {:<7} {:<28} owner{b:#}",
                "hits", "window B", "kind", "literal"
            )?;
            for r in rows.iter().take(top) {
                writeln!(
                    out,
                    "{:>8} {:>10}  {:<7} {:<28} {}",
                    r.hits,
                    r.window_bytes,
                    r.kind,
                    format!("{:?}", r.literal),
                    r.owner
                )?;
            }
            let total: usize = rows.iter().map(|r| r.window_bytes).sum();
            let d = dim();
            writeln!(
                out,
                "{d}{} bytes of text, {total} bytes of pattern search in all{d:#}",
                text.len()
            )?;
            Ok(Status::Clean)
        }
    }
}

fn list_concepts(engine: &Engine, format: Format) -> anyhow::Result<Status> {
    let mut out = anstream::stdout().lock();
    let names = engine.concepts();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &names)?;
            writeln!(out)?;
        }
        Format::Text => {
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
    }
    Ok(Status::Clean)
}

fn show(out: &mut impl std::io::Write, r: &Rule) -> anyhow::Result<()> {
    let (b, d) = (bold(), dim());
    let s = severity_style(r.severity);
    writeln!(out, "{b}{}{b:#}", r.id)?;
    writeln!(out, "  {}", r.message)?;
    writeln!(out, "  category   {}", r.category)?;
    writeln!(
        out,
        "  severity   {s}{}{s:#}  confidence {:.2}",
        r.severity, r.confidence
    )?;
    for (surface, sev) in &r.severity_on {
        writeln!(out, "             {sev} on {surface}")?;
    }
    let surfaces: Vec<&str> = r.surfaces.iter().map(|s| s.as_str()).collect();
    writeln!(
        out,
        "  surfaces   {}",
        if r.surfaces.is_all() {
            "all".to_owned()
        } else {
            surfaces.join(", ")
        }
    )?;
    match &r.matcher {
        MatchSpec::Pattern { pattern, anchors } => {
            writeln!(out, "  pattern    {pattern}")?;
            writeln!(out, "  anchors    {}", anchors.join(", "))?;
        }
        MatchSpec::Concepts {
            all,
            within,
            ordered,
            min,
        } => {
            let how = if *min < all.len() {
                format!("{min} of ")
            } else {
                String::new()
            };
            writeln!(
                out,
                "  concepts   {how}{} within {within} bytes{}",
                all.join(" + "),
                if *ordered { ", in this order" } else { "" }
            )?;
        }
        MatchSpec::Detector { name } => writeln!(out, "  detector   {name}")?,
        MatchSpec::Yara { namespace } => writeln!(out, "  yara       {namespace}")?,
        _ => {}
    }
    if let Some(v) = &r.validate {
        writeln!(out, "  validate   {v}")?;
    }
    if let Some(e) = r.min_entropy {
        writeln!(out, "  entropy    ≥ {e} bits/char")?;
    }
    if let Some(t) = &r.redact_as {
        writeln!(out, "  redacts as [REDACTED:{t}]")?;
    }
    if r.negatable {
        writeln!(
            out,
            "  negatable  a match right after a negation does not count"
        )?;
    }
    if r.quotable {
        writeln!(out, "  quotable   a match quoted as an example counts half")?;
    }
    writeln!(
        out,
        "  origin     {}:{} {d}(pack {}){d:#}",
        r.origin.file, r.origin.line, r.origin.pack
    )?;
    for e in &r.examples_match {
        writeln!(out, "  matches    {e:?}")?;
    }
    for e in &r.examples_no_match {
        writeln!(out, "  ignores    {e:?}")?;
    }
    for reference in &r.references {
        writeln!(out, "  see        {reference}")?;
    }
    Ok(())
}

fn test(dir: Option<&std::path::Path>, verbose: bool) -> anyhow::Result<Status> {
    let engine = match dir {
        Some(d) => Engine::builder()
            .rules_dir(d)
            .with_context(|| format!("cannot load rules from {}", d.display()))?
            .build()
            .context("cannot compile the rules")?,
        None => Engine::builtin().context("cannot compile the built-in rules")?,
    };
    let user = dir.is_some();
    let results = engine.check_examples(&|r: &Rule| r.origin.builtin != user);
    let mut out = anstream::stdout().lock();
    let (ok, bad) = (ok_style(), error_style());
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        if r.passed && !verbose {
            continue;
        }
        let (style, word) = if r.passed {
            (ok, "pass")
        } else {
            (bad, "FAIL")
        };
        writeln!(
            out,
            "{style}{word}{style:#} {} {} on {}: {:?}",
            r.rule_id,
            if r.should_match {
                "should match"
            } else {
                "should not match"
            },
            r.surface,
            r.text
        )?;
    }
    let rules: std::collections::BTreeSet<&str> = results.iter().map(|r| &*r.rule_id).collect();
    if rules.is_empty() {
        bail!(
            "no rules to test{}",
            dir.map(|d| format!(" in {}", d.display()))
                .unwrap_or_default()
        );
    }
    let style = if failed == 0 { ok } else { bad };
    writeln!(
        out,
        "{style}{} rules, {} examples, {failed} failed{style:#}",
        rules.len(),
        results.len()
    )?;
    Ok(if failed == 0 {
        Status::Clean
    } else {
        Status::Findings
    })
}
