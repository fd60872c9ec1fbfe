//! YAML (Continue's `config.yaml` and its `.continue/mcpServers/*.yaml` blocks) read into JSON
//! values, from a parser's events. Only what a configuration needs: one document of mappings,
//! sequences and scalars (the core schema's nulls, booleans and numbers, else strings). Refused:
//! aliases (a few lines of them expand to gigabytes), duplicate keys (parsers disagree on which
//! one wins, and a scanner must read what the client reads), keys that are not scalars, more
//! than one document, nesting deeper than [`MAX_DEPTH`], merge keys (`<<`), tags and
//! directives (`%YAML 1.1` makes the npm `yaml` package Continue uses merge `<<` keys, which
//! would add servers and commands this reader does not see).

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Deepest nesting of mappings and sequences read.
pub const MAX_DEPTH: usize = 64;

enum Open {
    Seq(Vec<Value>),
    /// A mapping, and the key whose value comes next.
    Map(Map<String, Value>, Option<String>),
}

/// The document in `text`, as JSON (`Null` for an empty file).
pub fn to_json(text: &str) -> Result<Value, String> {
    // Directives start a line with `%` (block scalars are indented: a line of theirs does not).
    if let Some(n) = text
        .lines()
        .position(|l| l.trim_start_matches('\u{feff}').starts_with('%'))
    {
        return Err(format!(
            "a directive at line {}: directives are not read",
            n + 1
        ));
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| e.to_string())?;
        let at = || format!("line {}", span.start.line());
        let value = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(format!("a second document at {}: one is read", at()));
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(format!(
                    "an alias at {}: anchors and aliases are not read",
                    at()
                ));
            }
            Event::SequenceStart(_, Some(_)) | Event::MappingStart(_, Some(_)) => {
                return Err(format!("a tag at {}: tags are not read", at()));
            }
            Event::Scalar(_, _, _, Some(_)) => {
                return Err(format!("a tag at {}: tags are not read", at()));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("nested deeper than {MAX_DEPTH} at {}", at()));
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Open::Seq(Vec::new()),
                    _ => Open::Map(Map::new(), None),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items)) => (Value::Array(items), None),
                Some(Open::Map(m, None)) => (Value::Object(m), None),
                Some(Open::Map(_, Some(k))) => return Err(format!("the key {k:?} has no value")),
                None => return Err("unbalanced document".into()),
            },
            Event::Scalar(text, style, ..) => {
                let v = scalar(&text, style);
                (v, Some(text.into_owned()))
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {
                continue;
            }
        };
        let (value, raw) = value;
        match stack.last_mut() {
            None => root = Some(value),
            Some(Open::Seq(items)) => items.push(value),
            Some(Open::Map(m, key)) => match key.take() {
                Some(k) => {
                    m.insert(k, value);
                }
                None => {
                    let Some(k) = raw else {
                        return Err(format!("a key that is not a scalar at {}", at()));
                    };
                    if k == "<<" {
                        return Err(format!("a merge key (<<) at {}: not read", at()));
                    }
                    if m.contains_key(&k) {
                        return Err(format!("the key {k:?} twice in one mapping at {}", at()));
                    }
                    *key = Some(k);
                }
            },
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

/// A scalar as the YAML 1.2 core schema reads it: quoted and block scalars are strings; plain
/// ones may be null, a boolean or a number.
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
    } else if digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn continue_config() {
        let text = "name: Local Assistant\nversion: 1.0.0\nschema: v1\nmcpServers:\n  - name: SQLite MCP\n    command: npx\n    args:\n      - \"-y\"\n      - mcp-sqlite@1.2.0\n      - 8080\n    env:\n      TOKEN: 'abc'\n      EMPTY:\n    disabled: false\n  - name: web\n    type: streamable-http\n    url: https://example.com/mcp\n    requestOptions:\n      headers: {Authorization: Bearer x}\n";
        let v = to_json(text).expect("reads");
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(
            v["mcpServers"][0]["args"],
            json!(["-y", "mcp-sqlite@1.2.0", 8080])
        );
        assert_eq!(
            v["mcpServers"][0]["env"],
            json!({"TOKEN": "abc", "EMPTY": null})
        );
        assert_eq!(v["mcpServers"][0]["disabled"], false);
        assert_eq!(
            v["mcpServers"][1]["requestOptions"]["headers"]["Authorization"],
            "Bearer x"
        );
        assert_eq!(to_json("").expect("empty"), Value::Null);
        assert_eq!(to_json("# only a comment\n").expect("empty"), Value::Null);
        assert_eq!(
            to_json("a: [1.5, -2, '3', 0x10, .inf, yes, ~]").expect("reads"),
            json!({"a": [1.5, -2, "3", "0x10", ".inf", "yes", null]})
        );
    }

    #[test]
    fn what_is_refused() {
        let bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n";
        assert!(to_json(bomb).is_err_and(|e| e.contains("alias")));
        assert!(to_json("a: 1\na: 2\n").is_err_and(|e| e.contains("twice")));
        assert!(to_json("? [a]\n: 1\n").is_err_and(|e| e.contains("not a scalar")));
        assert!(to_json("a: 1\n---\nb: 2\n").is_err_and(|e| e.contains("second document")));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(to_json(&deep).is_err_and(|e| e.contains("deeper")));
        assert!(to_json("a: [unclosed").is_err());
        assert!(to_json("a:\n\tb: tab").is_err());
        assert!(to_json("%YAML 1.1\n---\n<<: {a: 1}\n").is_err_and(|e| e.contains("directive")));
        assert!(to_json("a:\n  <<: {command: sh}\n").is_err_and(|e| e.contains("merge")));
        assert!(to_json("a: !!str 1\n").is_err_and(|e| e.contains("tag")));
        assert!(to_json("a: !custom {b: 1}\n").is_err_and(|e| e.contains("tag")));
        // A `%` inside a value is no directive.
        assert_eq!(
            to_json("a: |\n  %x\n").expect("reads"),
            json!({"a": "%x\n"})
        );
        // An anchor without an alias is harmless and read.
        assert_eq!(to_json("a: &x 1\n").expect("reads"), json!({"a": 1}));
    }
}
