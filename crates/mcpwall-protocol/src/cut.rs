//! What the kept ends of a frame over the size cap show: whether it is a request or an answer,
//! and its id, so that the request concerned can be failed at once instead of timing out.
//! Read only where that is sure from a part of the frame: a sender's key order decides where
//! the id is (the Python SDK writes it first, the TypeScript SDK last).

use serde_json::Value;

use crate::Id;

/// The top-level id of the frame whose first bytes are `head` and last bytes `tail`, and what
/// the frame is, when both show for sure: the kind from the head, the id from the head (among
/// the members before anything nested) or else, when the head shows no `id` member whole, from
/// the tail (the object's last member).
pub fn cut_member(head: &[u8], tail: &[u8]) -> Option<(Id, Cut)> {
    let (id, lead) = leading(head);
    // An id member the head shows whole settles it, readable or not.
    let id = id.unwrap_or_else(|| trailing_id(tail));
    lead.and_then(|l| id.map(|i| (i, l)))
}

/// Whether the end of the frame that `head` begins is worth reading: the head shows what the
/// frame is but not its id (a sender that writes the id last).
pub fn needs_tail(head: &[u8]) -> bool {
    let (id, lead) = leading(head);
    lead.is_some() && id.is_none()
}

/// What the beginning of a cut frame shows it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// It has a `method` (or `params`).
    Request,
    /// It has a `result` or an `error`.
    Answer,
}

/// The top-level `id` of the JSON object `head` begins, and whether the object is a request or
/// an answer, when both show before the head ends or a nested value is passed (all a truncated
/// frame can show for sure). An escaped key is not read as any of these.
#[cfg(test)]
fn leading_member(head: &[u8]) -> Option<(Id, Cut)> {
    let (id, lead) = leading(head);
    id.flatten().zip(lead)
}

/// The `id` of a JSON object whose last member it is, from the object's last bytes: `tail`
/// must end with `,"id":` and a number or a string, then the closing brace. A member nested
/// deeper would be followed by more than one brace; an escaped key is not read.
fn trailing_id(tail: &[u8]) -> Option<Id> {
    let trim = |mut end: usize| {
        while end > 0 && tail[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        end
    };
    let mut end = trim(tail.len());
    if end == 0 || tail[end - 1] != b'}' {
        return None;
    }
    end = trim(end - 1);
    let value_end = end;
    let last = *tail.get(end.checked_sub(1)?)?;
    if last == b'"' {
        // Back to the opening quote: one not escaped (preceded by an even number of
        // backslashes).
        let mut i = end - 1;
        loop {
            i = i.checked_sub(1)?;
            if tail[i] == b'"' {
                let slashes = tail[..i].iter().rev().take_while(|&&b| b == b'\\').count();
                if slashes % 2 == 0 {
                    break;
                }
            }
        }
        end = i;
    } else {
        while end > 0
            && matches!(
                tail[end - 1],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            end -= 1;
        }
    }
    let value = &tail[end..value_end];
    end = trim(end);
    if end == 0 || tail[end - 1] != b':' {
        return None;
    }
    end = trim(end - 1);
    if !tail[..end].ends_with(br#""id""#) {
        return None;
    }
    end = trim(end - 4);
    if end == 0 || tail[end - 1] != b',' {
        return None;
    }
    let v: Value = serde_json::from_slice(value).ok()?;
    Id::from_json(&v).ok()
}

/// What [`leading_member`] reads, each part as far as it is sure: the `id` member when its
/// value shows whole (`Some(None)`: it is no valid id), and the kind once a `method`, `params`,
/// `result` or `error` key and its colon show.
fn leading(head: &[u8]) -> (Option<Option<Id>>, Option<Cut>) {
    let (mut id, mut lead) = (None, None);
    // Stops where the head ends, goes wrong or nests: what was read so far stands.
    let _ = read_leading(head, &mut id, &mut lead);
    (id, lead)
}

fn read_leading(head: &[u8], id: &mut Option<Option<Id>>, lead: &mut Option<Cut>) -> Option<()> {
    let ws = |mut i: usize| {
        while head.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    // The index after the string that starts at `i`, and its raw content.
    let string = |i: usize| -> Option<(usize, &[u8])> {
        if head.get(i) != Some(&b'"') {
            return None;
        }
        let mut j = i + 1;
        loop {
            match head.get(j)? {
                b'\\' => j += 2,
                b'"' => return Some((j + 1, &head[i + 1..j])),
                _ => j += 1,
            }
        }
    };
    let mut i = ws(0);
    if head.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    while id.is_none() || lead.is_none() {
        let (next, key) = string(ws(i))?;
        i = ws(next);
        if head.get(i) != Some(&b':') {
            return None;
        }
        match key {
            b"method" | b"params" => *lead = Some(Cut::Request),
            b"result" | b"error" => *lead = Some(Cut::Answer),
            _ => {}
        }
        i = ws(i + 1);
        let start = i;
        match head.get(i)? {
            b'"' => i = string(i)?.0,
            // Past a nested value nothing more is sure.
            b'{' | b'[' => return None,
            _ => {
                while head
                    .get(i)
                    .is_some_and(|&b| !matches!(b, b',' | b'}') && !b.is_ascii_whitespace())
                {
                    i += 1;
                }
                // A value cut off by the end of the head is not read.
                head.get(i)?;
            }
        }
        if key == b"id" {
            let v: Option<Value> = serde_json::from_slice(&head[start..i]).ok();
            *id = Some(v.and_then(|v| Id::from_json(&v).ok()));
        }
        i = ws(i);
        if head.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_head_of_a_cut_frame_is_read_only_when_sure() {
        let lead = |h: &str| leading_member(h.as_bytes()).map(|(i, l)| (i.to_value(), l));
        assert_eq!(
            lead(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"#),
            Some((json!(7), Cut::Answer))
        );
        assert_eq!(
            lead(r#" { "jsonrpc" : "2.0" , "id" : "a\"b" , "method" : "x", "params": {"#),
            Some((json!("a\"b"), Cut::Request))
        );
        assert_eq!(
            lead(r#"{"jsonrpc":"2.0","method":"sampling/createMessage","id":3,"params":{"#),
            Some((json!(3), Cut::Request))
        );
        // After something nested, an `id` may be anyone's; without a kind, nothing is sure.
        assert_eq!(lead(r#"{"result":{"id":1},"id":2"#), None);
        assert_eq!(lead(r#"{"jsonrpc":"2.0","id":1,"#), None);
        // Cut inside the id, escaped key, not an object: nothing.
        assert_eq!(lead(r#"{"result":1,"id":12"#), None);
        assert_eq!(lead(r#"{"\u0069d":1,"result":{"#), None);
        assert_eq!(lead(r#"[{"id":1}]"#), None);
        assert_eq!(lead(""), None);
        // The kind shows with its key and colon, whatever follows.
        assert_eq!(
            lead(r#"{"jsonrpc":"2.0","id":7,"result":"xx"#),
            Some((json!(7), Cut::Answer))
        );
        let seven = Some(Some(Id::Number("7".to_owned())));
        assert_eq!(leading(br#"{"id":7,"result""#), (seven, None));
    }

    #[test]
    fn the_end_is_needed_only_when_the_head_shows_the_kind_and_no_id() {
        assert!(needs_tail(br#"{"result":{"content":["#));
        assert!(!needs_tail(br#"{"jsonrpc":"2.0","id":1,"result":{"#));
        assert!(!needs_tail(br#"{"jsonrpc":"2.0","id":null,"result":{"#));
        assert!(!needs_tail(br#"{"jsonrpc":"2.0","x":{"#));
        assert!(!needs_tail(b"[{"));
    }

    #[test]
    fn the_end_of_a_cut_frame_gives_its_id_only_when_it_is_the_last_member() {
        let id = |t: &str| trailing_id(t.as_bytes()).map(|i| i.to_value());
        assert_eq!(id(r#"aaa"]},"jsonrpc":"2.0","id":12}"#), Some(json!(12)));
        assert_eq!(id("xx\" , \"id\" : -3 }\r"), Some(json!(-3)));
        assert_eq!(id(r#"x","id":"a\"b"}"#), Some(json!("a\"b")));
        assert_eq!(id(r#"x","id":"a\\"}"#), Some(json!("a\\")));
        // Nested deeper, not last, escaped, cut or not an id.
        assert_eq!(id(r#"x","id":1}}"#), None);
        assert_eq!(id(r#"x","id":1,"jsonrpc":"2.0"}"#), None);
        assert_eq!(id(r#"x\",\"id\":1}"#), None);
        assert_eq!(id(r#"{"id":1}"#), None);
        assert_eq!(id(r#""id":1}"#), None);
        assert_eq!(id(r#"x","id":true}"#), None);
        assert_eq!(id(r#"x","id":"open}"#), None);
        assert_eq!(id(r#"x","uid":1}"#), None);
        assert_eq!(id(""), None);
        assert_eq!(id("}"), None);
    }
}
