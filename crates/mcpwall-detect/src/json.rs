//! Walking a JSON value's strings (object keys included) without recursion, in a fixed order,
//! and naming each by a path: `$.content[0].text`, or `$.properties.x@key` for a key.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Strings nested deeper than this are not scanned; the scan reports that instead.
pub(crate) const MAX_DEPTH: usize = 64;

/// A string of a JSON value, in walk order.
#[derive(Debug)]
pub(crate) struct JsonString<'v> {
    pub(crate) text: &'v str,
}

enum Frame<'v> {
    Obj(serde_json::map::Iter<'v>),
    Arr(std::slice::Iter<'v, Value>),
}

/// Collects every string (keys first, then the value, for each member) and reports whether some
/// part of the value was deeper than [`MAX_DEPTH`] and skipped.
pub(crate) fn strings<'v>(v: &'v Value, out: &mut Vec<JsonString<'v>>) -> bool {
    let mut too_deep = false;
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut pending: Option<&Value> = Some(v);
    loop {
        if let Some(v) = pending.take() {
            match v {
                Value::String(s) => out.push(JsonString { text: s }),
                Value::Object(m) if stack.len() < MAX_DEPTH => stack.push(Frame::Obj(m.iter())),
                Value::Array(a) if stack.len() < MAX_DEPTH => stack.push(Frame::Arr(a.iter())),
                Value::Object(m) if !m.is_empty() => too_deep = true,
                Value::Array(a) if !a.is_empty() => too_deep = true,
                _ => {}
            }
        }
        let Some(top) = stack.last_mut() else { break };
        match top {
            Frame::Obj(it) => match it.next() {
                Some((k, v)) => {
                    out.push(JsonString { text: k });
                    pending = Some(v);
                }
                None => {
                    stack.pop();
                }
            },
            Frame::Arr(it) => match it.next() {
                Some(v) => pending = Some(v),
                None => {
                    stack.pop();
                }
            },
        }
    }
    too_deep
}

/// The distinct strings of `strings`, in order of first occurrence, and for each string the
/// index of its distinct text. A `tools/list` result repeats its keys and many of its
/// descriptions ("type", "The repository owner") once per tool: each is scanned once.
pub(crate) fn distinct<'v>(strings: &[JsonString<'v>]) -> (Vec<&'v str>, Vec<usize>) {
    // The standard hasher, randomly keyed: the strings are the peer's, and a weaker hash would
    // let it send thousands of colliding ones.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(strings.len());
    let mut unique = Vec::new();
    let of = strings
        .iter()
        .map(|s| {
            *index.entry(s.text).or_insert_with(|| {
                unique.push(s.text);
                unique.len() - 1
            })
        })
        .collect();
    (unique, of)
}

/// Where each distinct string occurs: `places[start[u]..start[u + 1]]` are the indices of the
/// strings whose distinct index (in `of`) is `u`, in order.
pub(crate) struct Places {
    start: Vec<usize>,
    places: Vec<usize>,
}

impl Places {
    pub(crate) fn new(of: &[usize], distinct: usize) -> Places {
        let mut start = vec![0usize; distinct + 1];
        for &u in of {
            start[u + 1] += 1;
        }
        for u in 0..distinct {
            start[u + 1] += start[u];
        }
        let mut next = start.clone();
        let mut places = vec![0usize; of.len()];
        for (i, &u) in of.iter().enumerate() {
            places[next[u]] = i;
            next[u] += 1;
        }
        Places { start, places }
    }

    pub(crate) fn of(&self, u: usize) -> &[usize] {
        &self.places[self.start[u]..self.start[u + 1]]
    }
}

#[derive(Clone)]
enum Elem<'v> {
    Key(&'v str),
    Index(usize),
}

fn push_key(path: &mut String, k: &str) {
    let plain = !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !k.as_bytes()[0].is_ascii_digit();
    if plain {
        path.push('.');
        path.push_str(k);
    } else {
        path.push('[');
        // A JSON string literal keeps odd keys unambiguous.
        path.push_str(&serde_json::to_string(k).unwrap_or_default());
        path.push(']');
    }
}

fn render(elems: &[Elem<'_>]) -> String {
    let mut p = String::from("$");
    for e in elems {
        match e {
            Elem::Key(k) => push_key(&mut p, k),
            Elem::Index(i) => {
                let _ = write!(p, "[{i}]");
            }
        }
    }
    p
}

/// The path of the `index`-th string of the walk order of [`strings`].
pub(crate) fn path_of(v: &Value, index: usize) -> Option<String> {
    enum F<'v> {
        Obj(serde_json::map::Iter<'v>),
        Arr(std::slice::Iter<'v, Value>, usize),
    }
    let mut n = 0usize;
    let mut stack: Vec<F<'_>> = Vec::new();
    let mut elems: Vec<Elem<'_>> = Vec::new();
    let mut pending: Option<&Value> = Some(v);
    loop {
        if let Some(v) = pending.take() {
            match v {
                Value::String(_) => {
                    if n == index {
                        return Some(render(&elems));
                    }
                    n += 1;
                    elems.pop();
                }
                Value::Object(m) if stack.len() < MAX_DEPTH => stack.push(F::Obj(m.iter())),
                Value::Array(a) if stack.len() < MAX_DEPTH => stack.push(F::Arr(a.iter(), 0)),
                _ => {
                    elems.pop();
                }
            }
        }
        let top = stack.last_mut()?;
        match top {
            F::Obj(it) => match it.next() {
                Some((k, v)) => {
                    if n == index {
                        let mut p = render(&elems);
                        push_key(&mut p, k);
                        p.push_str("@key");
                        return Some(p);
                    }
                    n += 1;
                    elems.push(Elem::Key(k));
                    pending = Some(v);
                }
                None => {
                    stack.pop();
                    elems.pop();
                }
            },
            F::Arr(it, i) => match it.next() {
                Some(v) => {
                    elems.push(Elem::Index(*i));
                    *i += 1;
                    pending = Some(v);
                }
                None => {
                    stack.pop();
                    elems.pop();
                }
            },
        }
    }
}

/// Applies `edit` to the `index`-th string (walk order) for each index in `edits` (sorted),
/// renaming object keys where a key is edited.
pub(crate) fn edit_strings(v: &mut Value, edits: &mut dyn FnMut(usize, &str) -> Option<String>) {
    fn walk(
        v: &mut Value,
        n: &mut usize,
        depth: usize,
        edits: &mut dyn FnMut(usize, &str) -> Option<String>,
    ) {
        match v {
            Value::String(s) => {
                if let Some(new) = edits(*n, s) {
                    *s = new;
                }
                *n += 1;
            }
            Value::Object(m) if depth < MAX_DEPTH => {
                let mut renames: Vec<(String, String)> = Vec::new();
                for (k, child) in m.iter_mut() {
                    if let Some(new) = edits(*n, k) {
                        renames.push((k.clone(), new));
                    }
                    *n += 1;
                    walk(child, n, depth + 1, edits);
                }
                if !renames.is_empty() {
                    let old = std::mem::take(m);
                    let mut fresh = Map::with_capacity(old.len());
                    for (k, child) in old {
                        let key = renames
                            .iter()
                            .find(|(from, _)| *from == k)
                            .map_or(k, |(_, to)| to.clone());
                        fresh.insert(key, child);
                    }
                    *m = fresh;
                }
            }
            Value::Array(a) if depth < MAX_DEPTH => {
                for child in a.iter_mut() {
                    walk(child, n, depth + 1, edits);
                }
            }
            _ => {}
        }
    }
    let mut n = 0;
    walk(v, &mut n, 0, edits);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walk_order_and_paths() {
        let v = json!({"a": ["x", {"b c": "y"}], "d": 1});
        let mut out = Vec::new();
        assert!(!strings(&v, &mut out));
        let texts: Vec<&str> = out.iter().map(|s| s.text).collect();
        assert_eq!(texts, vec!["a", "x", "b c", "y", "d"]);
        assert_eq!(path_of(&v, 0).unwrap(), "$.a@key");
        assert_eq!(path_of(&v, 1).unwrap(), "$.a[0]");
        assert_eq!(path_of(&v, 2).unwrap(), "$.a[1][\"b c\"]@key");
        assert_eq!(path_of(&v, 3).unwrap(), "$.a[1][\"b c\"]");
        assert_eq!(path_of(&v, 4).unwrap(), "$.d@key");
        assert_eq!(path_of(&v, 5), None);
    }

    #[test]
    fn deep_values_are_reported_not_walked() {
        let mut v = json!("bottom");
        for _ in 0..100 {
            v = json!([v]);
        }
        let mut out = Vec::new();
        assert!(strings(&v, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn edits_keep_order_of_walk() {
        let mut v = json!({"k": ["a", "b"], "secret": "c"});
        edit_strings(&mut v, &mut |i, s| {
            (i == 2 || i == 3).then(|| format!("{s}!"))
        });
        assert_eq!(v, json!({"k": ["a", "b!"], "secret!": "c"}));
    }
}
