//! Strict JSON: what is inspected is what the receiver reads.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::ProtocolError;

/// Deepest nesting accepted. serde_json refuses 128 levels and more on its own; this limit is
/// lower so that every accepted value can be walked and re-encoded without deep recursion.
pub const MAX_DEPTH: usize = 64;

/// Parses one JSON value, refusing what parsers disagree on: duplicate object keys (one parser
/// keeps the first, another the last, so a scanner could be shown a value that the receiver
/// ignores), invalid UTF-8 and lone surrogates, nesting deeper than [`MAX_DEPTH`], and trailing
/// bytes.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: 0 }
        .deserialize_value(&mut de)
        .map_err(|e| ProtocolError::Json(e.to_string()))?;
    de.end().map_err(|e| ProtocolError::Json(e.to_string()))?;
    Ok(value)
}

#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
}

impl Strict {
    fn deserialize_value<'de, D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn deeper<E: de::Error>(self) -> Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

impl<'de> de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.deeper()?;
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(inner)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.deeper()?;
        let mut m = Map::new();
        // Keys as a case-insensitive parser reads them: Go's encoding/json matches `Name`,
        // `NAME` and `name` (and `ſ` as `s`, `K` as `k`) to one field, last one winning, so
        // `{"name":"read","Name":"delete"}` would be inspected as one call and run as another.
        // Hashed: an object of a hundred thousand keys fits in a frame.
        let mut folded: HashMap<String, String> = HashMap::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate key `{k}`")));
            }
            if let Some(first) = folded.insert(fold_key(&k), k.clone()) {
                return Err(de::Error::custom(format_args!(
                    "keys `{first}` and `{k}` differ only in case"
                )));
            }
            let v = map.next_value_seed(inner)?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// A key folded as case-insensitive JSON decoders compare keys (Go's `encoding/json`, .NET
/// with case-insensitive options): two keys that fold alike reach such a server as one.
pub fn fold_key(key: &str) -> String {
    if key.is_ascii() {
        return key.to_ascii_lowercase();
    }
    key.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ſ' { 's' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_parsers_disagree_on() {
        assert!(parse_strict(br#"{"a": 1, "b": {"c": [1, "x"]}}"#).is_ok());
        let e = parse_strict(br#"{"a": 1, "b": {"a": 2, "a": 3}}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
        assert!(parse_strict(br#"{"a": 1} trailing"#).is_err());
        assert!(parse_strict(br#""\ud800""#).is_err());
        assert!(parse_strict(b"\"\xff\"").is_err());
        // Escaped and plain spellings of one key are one key.
        assert!(parse_strict(br#"{"id": 1, "\u0069d": 2}"#).is_err());
        // So are spellings a case-insensitive decoder takes for one.
        for twins in [
            r#"{"name": "a", "Name": "b"}"#,
            r#"{"arguments": {}, "argumentſ": {}}"#,
            r#"{"kind": 1, "\u212Aind": 2}"#,
            r#"{"p": {"path": "/a", "PATH": "/etc"}}"#,
        ] {
            let e = parse_strict(twins.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains("differ only in case"),
                "{twins}: {e}"
            );
        }
        assert!(parse_strict(br#"{"name": "a", "names": "b"}"#).is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_strict(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = parse_strict(deep.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("nesting deeper"), "{e}");
        let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert!(parse_strict(deep_obj.as_bytes()).is_err());
    }
}
