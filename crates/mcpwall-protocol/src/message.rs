//! JSON-RPC 2.0 message kinds, checked strictly: a gateway that matches on a method must know
//! that the message really is the request it looks like.

use std::fmt;

use serde_json::{Map, Value};

use crate::{ProtocolError, parse_strict};

/// A request id: JSON-RPC allows a string or a number. `"1"` and `1` are different ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    /// A number id, kept as its JSON text (only integers are accepted).
    Number(String),
    /// A string id.
    String(String),
}

impl Id {
    /// An id read from JSON: a string or an integer.
    pub fn from_json(v: &Value) -> Result<Id, ProtocolError> {
        match v {
            Value::String(s) => Ok(Id::String(s.clone())),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Id::Number(n.to_string())),
            Value::Number(_) => Err(invalid("a numeric id must be an integer")),
            Value::Null => Err(invalid("a request id must not be null")),
            _ => Err(invalid("an id must be a string or an integer")),
        }
    }

    /// The id as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Id::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            Id::String(s) => Value::String(s.clone()),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => f.write_str(n),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// What a JSON-RPC object is.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A call that expects a response.
    Request {
        /// Its id.
        id: Id,
        /// Its method.
        method: String,
    },
    /// A call without a response.
    Notification {
        /// Its method.
        method: String,
    },
    /// A result or an error for an earlier request. `id` is `None` only for an error about a
    /// message whose id could not be read.
    Response {
        /// The id of the request it answers.
        id: Option<Id>,
        /// True for an `error` response, false for a `result`.
        is_error: bool,
    },
}

/// A parsed frame: one message or a batch of them, with the JSON they came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// One message.
    Single(Message, Value),
    /// A JSON-RPC batch (2024-11-05 and 2025-03-26; later versions removed batches).
    Batch(Vec<(Message, Value)>),
}

/// The most messages in one batch. Clients batch a few requests; a batch of thousands would
/// have the gateway hold thousands of answers (each up to a frame) for one POST.
pub const MAX_BATCH: usize = 256;

/// Parses a frame strictly ([`parse_strict`]) and checks that it is a JSON-RPC 2.0 message or a
/// non-empty batch of at most [`MAX_BATCH`] of them.
pub fn parse_message(bytes: &[u8]) -> Result<Parsed, ProtocolError> {
    let value = parse_strict(bytes)?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid("an empty batch"));
            }
            if items.len() > MAX_BATCH {
                return Err(ProtocolError::Invalid(format!(
                    "a batch of {} messages (at most {MAX_BATCH})",
                    items.len()
                )));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if item.is_array() {
                    return Err(invalid("a batch inside a batch"));
                }
                out.push((classify(&item)?, item));
            }
            Ok(Parsed::Batch(out))
        }
        v => Ok(Parsed::Single(classify(&v)?, v)),
    }
}

fn invalid(why: &str) -> ProtocolError {
    ProtocolError::Invalid(why.to_owned())
}

/// The kind of one JSON-RPC object.
fn classify(v: &Value) -> Result<Message, ProtocolError> {
    let Value::Object(o) = v else {
        return Err(invalid("not a JSON object"));
    };
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("`jsonrpc` must be \"2.0\""));
    }
    let known = |extra: &[&str]| -> Result<(), ProtocolError> {
        match o
            .keys()
            .find(|k| !["jsonrpc", "id"].contains(&k.as_str()) && !extra.contains(&k.as_str()))
        {
            Some(k) => Err(ProtocolError::Invalid(format!("unexpected member `{k}`"))),
            None => Ok(()),
        }
    };
    match o.get("method") {
        Some(Value::String(method)) => {
            known(&["method", "params"])?;
            check_params(o)?;
            match o.get("id") {
                None => Ok(Message::Notification {
                    method: method.clone(),
                }),
                Some(id) => Ok(Message::Request {
                    id: Id::from_json(id)?,
                    method: method.clone(),
                }),
            }
        }
        Some(_) => Err(invalid("`method` must be a string")),
        None => {
            let id = match o.get("id") {
                None => return Err(invalid("neither a method nor an id")),
                Some(Value::Null) => None,
                Some(id) => Some(Id::from_json(id)?),
            };
            match (o.get("result"), o.get("error")) {
                (Some(_), None) => {
                    known(&["result"])?;
                    id.map(|id| Message::Response {
                        id: Some(id),
                        is_error: false,
                    })
                    .ok_or_else(|| invalid("a result for a null id"))
                }
                (None, Some(Value::Object(e))) => {
                    known(&["error"])?;
                    if !e.get("code").is_some_and(|c| c.is_i64()) {
                        return Err(invalid("an error without an integer `code`"));
                    }
                    Ok(Message::Response { id, is_error: true })
                }
                (None, Some(_)) => Err(invalid("`error` must be an object")),
                (Some(_), Some(_)) => Err(invalid("both `result` and `error`")),
                (None, None) => Err(invalid("a response without `result` or `error`")),
            }
        }
    }
}

fn check_params(o: &Map<String, Value>) -> Result<(), ProtocolError> {
    match o.get("params") {
        None | Some(Value::Object(_)) | Some(Value::Array(_)) => Ok(()),
        Some(_) => Err(invalid("`params` must be an object or an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Result<Message, ProtocolError> {
        match parse_message(s.as_bytes())? {
            Parsed::Single(m, _) => Ok(m),
            Parsed::Batch(_) => panic!("a batch"),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#),
            Ok(Message::Request {
                id: Id::Number("7".into()),
                method: "tools/list".into()
            })
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response {
                id: Some(Id::String("a".into())),
                is_error: false
            })
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Ok(Message::Response {
                id: None,
                is_error: true
            })
        );
        assert_ne!(Id::Number("1".into()), Id::String("1".into()));
    }

    #[test]
    fn refuses_what_is_not_json_rpc() {
        for bad in [
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"message":"no code"}}"#,
            r#"{"jsonrpc":"2.0","method":"x","extra":1}"#,
            r#"[]"#,
            r#"[[{"jsonrpc":"2.0","method":"x"}]]"#,
            r#""text""#,
        ] {
            assert!(parse_message(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches() {
        let p = parse_message(
            br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
        )
        .unwrap();
        let Parsed::Batch(items) = p else {
            panic!("not a batch")
        };
        assert_eq!(items.len(), 2);
        assert!(parse_message(br#"[{"jsonrpc":"2.0","id":1,"method":"a"},3]"#).is_err());
        let one = r#"{"jsonrpc":"2.0","method":"n"}"#;
        let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
        assert!(parse_message(batch(MAX_BATCH).as_bytes()).is_ok());
        assert!(parse_message(batch(MAX_BATCH + 1).as_bytes()).is_err());
    }
}
