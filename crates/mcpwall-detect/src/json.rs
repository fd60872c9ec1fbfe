//! Walking a JSON value's strings (object keys included) without recursion, in a fixed order,
//! and naming each by a path: `$.content[0].text`, or `$.properties.x@key` for a key.

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
///
/// Sharing is an economy, never a change of outcome: a string not matched to an earlier copy
/// is scanned on its own. That bounds the work whatever the peer sends: strings are looked up
/// in an open-addressing table by a keyed hash of their length and first and last eight bytes
/// (the standard hasher over the whole text cost a fifth of a `tools/list` scan), and a lookup
/// gives up after [`MAX_PROBES`] slots, so that strings crafted to collide cost a few
/// comparisons each instead of one per earlier string.
pub(crate) fn distinct<'v>(strings: &[JsonString<'v>]) -> (Vec<&'v str>, Vec<usize>) {
    const EMPTY: (u64, usize) = (0, usize::MAX);
    let keys = Keys::random();
    let size = (strings.len() * 2).next_power_of_two().max(16);
    let mut table = vec![EMPTY; size];
    let mut unique: Vec<&str> = Vec::new();
    let mut of = Vec::with_capacity(strings.len());
    for s in strings {
        let t = s.text;
        let h = keys.hash(t);
        let mut at = (h as usize) & (size - 1);
        let mut found = None;
        let mut free = None;
        for _ in 0..MAX_PROBES {
            let (sh, u) = table[at];
            if u == usize::MAX {
                free = Some(at);
                break;
            }
            if sh == h && unique[u] == t {
                found = Some(u);
                break;
            }
            at = (at + 1) & (size - 1);
        }
        let u = found.unwrap_or_else(|| {
            unique.push(t);
            let u = unique.len() - 1;
            if let Some(at) = free {
                table[at] = (h, u);
            }
            u
        });
        of.push(u);
    }
    (unique, of)
}

/// Slots a lookup of [`distinct`] tries before treating its string as new.
const MAX_PROBES: usize = 16;

/// Random keys for [`distinct`]'s hash, drawn from the standard library's per-process
/// randomness, so that a peer cannot choose strings that collide in advance.
struct Keys([u64; 3]);

impl Keys {
    fn random() -> Keys {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        Keys([0u64, 1, 2].map(|i| state.hash_one(i)))
    }

    /// Mixes the length and the first and last eight bytes (which overlap on short texts).
    fn hash(&self, t: &str) -> u64 {
        let b = t.as_bytes();
        let word = |bytes: &[u8]| {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(w)
        };
        let n = b.len().min(8);
        let (head, tail) = (word(&b[..n]), word(&b[b.len() - n..]));
        let fold = |x: u64, y: u64| {
            let p = u128::from(x) * u128::from(y);
            (p as u64) ^ ((p >> 64) as u64)
        };
        let [k0, k1, k2] = self.0;
        fold(head ^ k0, tail ^ k1) ^ fold(b.len() as u64 ^ k2, 0x9e37_79b9_7f4a_7c15)
    }
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
#[cfg(test)]
pub(crate) fn path_of(v: &Value, index: usize) -> Option<String> {
    paths_of(v, &[index]).remove(&index)
}

/// The paths of the strings `wanted` (indices in the walk order of [`strings`], sorted), in
/// one walk that stops at the last of them.
pub(crate) fn paths_of(v: &Value, wanted: &[usize]) -> std::collections::HashMap<usize, String> {
    enum F<'v> {
        Obj(serde_json::map::Iter<'v>),
        Arr(std::slice::Iter<'v, Value>, usize),
    }
    let mut out = std::collections::HashMap::with_capacity(wanted.len());
    let mut next = wanted.iter().copied().peekable();
    let mut n = 0usize;
    let mut stack: Vec<F<'_>> = Vec::new();
    let mut elems: Vec<Elem<'_>> = Vec::new();
    let mut pending: Option<&Value> = Some(v);
    loop {
        if let Some(v) = pending.take() {
            match v {
                Value::String(_) => {
                    if next.peek() == Some(&n) {
                        next.next();
                        out.insert(n, render(&elems));
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
        while next.peek().is_some_and(|&w| w < n) {
            // Not a string of this walk (out of order, or past a depth cut): skipped.
            next.next();
        }
        if next.peek().is_none() {
            return out;
        }
        let Some(top) = stack.last_mut() else {
            return out;
        };
        match top {
            F::Obj(it) => match it.next() {
                Some((k, v)) => {
                    if next.peek() == Some(&n) {
                        next.next();
                        let mut p = render(&elems);
                        push_key(&mut p, k);
                        p.push_str("@key");
                        out.insert(n, p);
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
    use proptest::prelude::*;
    use serde_json::json;

    fn wrap<'a>(texts: &[&'a str]) -> Vec<JsonString<'a>> {
        texts.iter().map(|&text| JsonString { text }).collect()
    }

    /// `unique[of[i]]` is string `i`; `unique` lists first occurrences, in order.
    fn check_distinct(texts: &[&str], unique: &[&str], of: &[usize]) {
        assert_eq!(of.len(), texts.len());
        let mut next = 0;
        for (i, &t) in texts.iter().enumerate() {
            assert_eq!(unique[of[i]], t);
            if of[i] == next {
                next += 1;
            } else {
                assert!(of[i] < next, "string {i} refers to a later text");
            }
        }
        assert_eq!(next, unique.len());
    }

    #[test]
    fn repeated_strings_share_one_entry() {
        let texts = [
            "type",
            "string",
            "type",
            "",
            "a long description of a parameter",
            "",
            "a long description of a parameter",
            "string",
        ];
        let (unique, of) = distinct(&wrap(&texts));
        check_distinct(&texts, &unique, &of);
        assert_eq!(
            unique,
            ["type", "string", "", "a long description of a parameter"]
        );
    }

    #[test]
    fn colliding_strings_are_still_told_apart() {
        // Same length, first and last eight bytes: one hash for all. Past the probe limit they
        // are each their own entry; the copies of the first ones are still found.
        let texts: Vec<String> = (0..200)
            .map(|i| format!("prefix__{i:06}__suffix"))
            .collect();
        let mut all: Vec<&str> = texts.iter().map(String::as_str).collect();
        all.extend(texts.iter().take(8).map(String::as_str));
        let (unique, of) = distinct(&wrap(&all));
        check_distinct(&all, &unique, &of);
        assert_eq!(unique.len(), 200);
    }

    proptest! {
        #[test]
        fn distinct_maps_every_string_to_its_text(
            texts in proptest::collection::vec(
                prop_oneof![Just(String::new()), "[ab]{0,3}", "[ab]{7,10}", "[ab ]{15,20}"],
                0..60,
            )
        ) {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (unique, of) = distinct(&wrap(&texts));
            check_distinct(&texts, &unique, &of);
            // With few strings every copy is found.
            let mut seen = std::collections::BTreeSet::new();
            prop_assert!(unique.iter().all(|u| seen.insert(*u)));
        }
    }

    #[test]
    fn walk_order_and_paths() {
        let v = json!({"a": ["x", {"b c": "y"}], "d": 1});
        let mut out = Vec::new();
        assert!(!strings(&v, &mut out));
        let texts: Vec<&str> = out.iter().map(|s| s.text).collect();
        assert_eq!(texts, vec!["a", "x", "b c", "y", "d"]);
        assert_eq!(path_of(&v, 0).unwrap(), "$.a@key");
        // Several at once, in one walk, as one by one.
        let all = paths_of(&v, &[0, 3, 4, 9]);
        assert_eq!(all.len(), 3);
        for k in [0, 3, 4] {
            assert_eq!(all.get(&k).cloned(), path_of(&v, k));
        }
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
