//! YARA rules through `yara-x` (the `yara` cargo feature).
//!
//! YARA rules join the engine's rule set: each becomes a [`Rule`] whose id is
//! `yara.<identifier>` and whose category, severity, confidence, surfaces, message and examples
//! come from the rule's metadata. They scan the same normalised text as the TOML rules.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use yara_x::{Compiler, MetaValue, SourceCode};

use crate::error::Error;
use crate::finding::{Category, Severity};
use crate::rules::{MatchSpec, Origin, Rule, RuleSet};
use crate::scan::{Doc, Raw, Scanner};
use crate::surface::{Surface, SurfaceSet};

/// A scan that takes longer than this is abandoned (its YARA findings are lost, the rest of the
/// scan stands).
const SCAN_TIMEOUT: Duration = Duration::from_secs(2);

/// Compiled YARA rules and their place in the rule set.
pub(crate) struct Yara {
    rules: yara_x::Rules,
    /// `(namespace, identifier)` to the index of the matching [`Rule`].
    index: HashMap<(String, String), usize>,
}

impl std::fmt::Debug for Yara {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yara")
            .field("rules", &self.index.len())
            .finish()
    }
}

/// The sample pack compiled into the binary.
pub(crate) fn builtin_sources() -> Vec<(String, String, bool)> {
    vec![(
        "builtin:yara/mcp_sample".to_owned(),
        include_str!("../rules/yara/mcp_sample.yar").to_owned(),
        true,
    )]
}

/// Every `*.yar` / `*.yara` file of a directory, in name order.
pub(crate) fn dir_sources(dir: &Path) -> Result<Vec<(String, String, bool)>, Error> {
    let paths = crate::rules::load::files_with_extensions(dir, &["yar", "yara"])?;
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
            Ok((p.display().to_string(), text, false))
        })
        .collect()
}

fn meta_str(m: &MetaValue<'_>) -> String {
    match m {
        MetaValue::Integer(i) => i.to_string(),
        MetaValue::Float(f) => f.to_string(),
        MetaValue::Bool(b) => b.to_string(),
        MetaValue::String(s) => (*s).to_owned(),
        MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

impl Yara {
    /// Compiles the sources and appends one [`Rule`] per YARA rule to `set`.
    pub(crate) fn compile(
        sources: &[(String, String, bool)],
        set: &mut RuleSet,
    ) -> Result<Option<Yara>, Error> {
        if sources.is_empty() {
            return Ok(None);
        }
        let mut compiler = Compiler::new();
        compiler.colorize_errors(false);
        let mut origin_of_ns: HashMap<String, (String, bool)> = HashMap::new();
        for (i, (label, text, builtin)) in sources.iter().enumerate() {
            let ns = format!("ns{i}");
            compiler.new_namespace(&ns);
            compiler
                .add_source(SourceCode::from(text.as_str()).with_origin(label.as_str()))
                .map_err(|e| Error::Yara {
                    file: label.clone(),
                    message: e.to_string(),
                })?;
            origin_of_ns.insert(ns, (label.clone(), *builtin));
        }
        let rules = compiler.build();
        let mut index = HashMap::new();
        for r in rules.iter() {
            let ns = r.namespace().to_owned();
            let (file, builtin) = origin_of_ns.get(&ns).cloned().unwrap_or_default();
            let ident = r.identifier().to_owned();
            let err = |message: String| Error::Yara {
                file: file.clone(),
                message: format!("rule `{ident}`: {message}"),
            };
            let mut category = None;
            let mut severity = None;
            let mut confidence = 0.8f32;
            let mut surfaces = SurfaceSet::all();
            let mut message = String::new();
            let mut examples_match = Vec::new();
            let mut examples_no_match = Vec::new();
            for (key, value) in r.metadata() {
                let v = meta_str(&value);
                match key {
                    "category" => {
                        category = Some(v.parse::<Category>().map_err(|e| err(e.to_string()))?)
                    }
                    "severity" => {
                        severity = Some(v.parse::<Severity>().map_err(|e| err(e.to_string()))?)
                    }
                    "confidence" => {
                        confidence = v
                            .parse::<f32>()
                            .ok()
                            .filter(|c| (0.0..=1.0).contains(c))
                            .ok_or_else(|| {
                                err("confidence must be a number between 0 and 1".into())
                            })?;
                    }
                    "surfaces" if v.trim() != "all" => {
                        surfaces = v
                            .split(',')
                            .map(|s| s.trim().parse::<Surface>().map_err(|e| err(e.to_string())))
                            .collect::<Result<SurfaceSet, _>>()?;
                    }
                    "message" | "description" => message = v,
                    k if k.starts_with("no_match") => examples_no_match.push(v),
                    k if k.starts_with("match") => examples_match.push(v),
                    _ => {}
                }
            }
            let (Some(category), Some(severity)) = (category, severity) else {
                return Err(err("needs `category` and `severity` metadata".into()));
            };
            if message.is_empty() {
                return Err(err("needs a `message` metadata".into()));
            }
            let id: Arc<str> = format!("yara.{ident}").into();
            if set.by_id.contains_key(&id) {
                return Err(err(format!("duplicate rule id `{id}`")));
            }
            let idx = set.rules.len();
            set.by_id.insert(id.clone(), idx);
            set.rules.push(Rule {
                id,
                category,
                severity,
                confidence,
                surfaces,
                severity_on: Vec::new(),
                message: message.into(),
                matcher: MatchSpec::Yara {
                    namespace: ns.clone(),
                },
                origin: Origin {
                    pack: "yara".to_owned(),
                    file: file.clone(),
                    line: 0,
                    builtin,
                },
                redact_as: category.is_sensitive_data().then(|| ident.clone().into()),
                validate: None,
                min_entropy: None,
                random_severity: None,
                negatable: false,
                quotable: false,
                examples_match,
                examples_no_match,
                json_examples: false,
                references: Vec::new(),
                group: None,
                validator: None,
                allow_placeholder: true,
                hidden_region: false,
            });
            index.insert((ns, ident), idx);
        }
        Ok(Some(Yara { rules, index }))
    }

    /// Scans the document's normalised text and adds the findings of the rules that match.
    pub(crate) fn scan(&self, sc: &Scanner<'_>, doc: &Doc<'_>, raws: &mut Vec<Raw>) {
        let mut scanner = yara_x::Scanner::new(&self.rules);
        scanner.set_timeout(SCAN_TIMEOUT);
        let Ok(results) = scanner.scan(doc.norm.as_bytes()) else {
            return;
        };
        for m in results.matching_rules() {
            let Some(&rule) = self
                .index
                .get(&(m.namespace().to_owned(), m.identifier().to_owned()))
            else {
                continue;
            };
            if !sc.applies(rule) {
                continue;
            }
            let range = m
                .patterns()
                .flat_map(|p| p.matches().map(|x| x.range()).collect::<Vec<_>>())
                .min_by_key(|r| r.start)
                .unwrap_or(0..doc.norm.len().min(1));
            let seg = doc.seg_at(range.start);
            let end = range.end.min(doc.segs[seg].norm.end);
            let span = doc.to_original(seg, range.start..end);
            raws.push(sc.raw(rule, seg, span));
        }
    }
}
