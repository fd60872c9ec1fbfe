//! Which bytes may come right after an anchor in a match of a pattern that starts with it.
//!
//! A pattern anchored on its prefixes is tried at every hit of one of them, and most tries fail
//! on the first byte after the anchor ("return" of "return the above" in "returns a list").
//! Setting up a regex search costs a few hundred instructions; a lookup in the set of bytes
//! that may follow rules most tries out for almost nothing. The set comes from the pattern's
//! lazy DFA, run over the anchor in every ASCII case and after every kind of byte before it,
//! so it holds every byte that some match could continue with: it never rules out a match.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use super::PATTERN_SIZE_LIMIT;
use super::trie::{SPACES, is_space};

/// A set of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 != 0
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }
}

/// Tries of a pattern at one anchor before what may follow the anchor is worked out: that
/// costs about as much as a thousand tries (a DFA for the pattern, a few of its states for
/// each class of bytes), and a short text or a rarely hit anchor never earns it back.
const TRIES_BEFORE_FOLLOW: u32 = 1024;

/// What may follow one anchor of one pattern, worked out once the anchor has been hit often
/// enough (shared by every scan of the engine).
#[derive(Debug, Default)]
pub(crate) struct FollowCell {
    tries: AtomicU32,
    follow: OnceLock<Option<Follow>>,
}

impl FollowCell {
    /// Whether a match may go on from `hay[at..]`, the byte after the hit; `work_out` gives
    /// the anchor's [`Follow`] when it is first needed.
    pub(crate) fn allows(
        &self,
        hay: &[u8],
        at: usize,
        work_out: impl FnOnce() -> Option<Follow>,
    ) -> bool {
        if self.follow.get().is_none()
            && self.tries.fetch_add(1, Ordering::Relaxed) < TRIES_BEFORE_FOLLOW
        {
            return true;
        }
        self.follow
            .get_or_init(work_out)
            .as_ref()
            .is_none_or(|f| f.allows(hay, at))
    }
}

/// Bytes a match may have just before its start: each kind that a look-behind assertion
/// (`\b`, `\B`, `^` in multi-line mode, CRLF mode) tells apart, and the start of the text.
const BEHIND: [Option<u8>; 5] = [None, Some(b'a'), Some(b' '), Some(b'\n'), Some(b'\r')];

/// The pattern's forward lazy DFA, every match kind, for [`follow`].
pub(crate) fn follow_dfa(hir: &Hir) -> Option<DFA> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT)),
        )
        .build_from_hir(hir)
        .ok()?;
    DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .cache_capacity(1 << 18)
                .skip_cache_capacity_check(true),
        )
        .build_from_nfa(nfa)
        .ok()
}

/// What may come after an anchor in a match that starts with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Follow {
    /// The byte right after it.
    pub(crate) next: ByteSet,
    /// The first byte other than whitespace after a run of whitespace right after it (`\s+`
    /// between two words is the usual case); `None` when any byte may.
    pub(crate) after_space: Option<ByteSet>,
}

impl Follow {
    /// Whether a match may go on from `hay[at..]` (the byte after the hit and on).
    pub(crate) fn allows(&self, hay: &[u8], at: usize) -> bool {
        let Some(&b) = hay.get(at) else { return true };
        if !self.next.contains(b) {
            return false;
        }
        let Some(after) = &self.after_space else {
            return true;
        };
        if !is_space(b) {
            return true;
        }
        // Past a few whitespace bytes the check is not worth its time; the search decides.
        match hay[at..].iter().take(8).position(|&c| !is_space(c)) {
            Some(k) => after.contains(hay[at + k]),
            None => true,
        }
    }
}

/// The states after `states` on each of `variants`; `None` when a match ended (or the DFA gave
/// up): then anything may follow.
fn step(
    dfa: &DFA,
    cache: &mut Cache,
    states: &[LazyStateID],
    variants: &[u8],
) -> Option<Vec<LazyStateID>> {
    let mut next = Vec::with_capacity(states.len());
    for &sid in states {
        for &v in variants {
            let n = dfa.next_state(cache, sid, v).ok()?;
            if n.is_quit() || n.is_match() {
                return None;
            }
            if !n.is_dead() && !next.contains(&n) {
                next.push(n);
            }
        }
    }
    Some(next)
}

/// The bytes on which some state goes on; `None` if the DFA gave up on one. Bytes of one class
/// of the DFA's alphabet behave alike, so one of each is tried.
fn live_bytes(dfa: &DFA, cache: &mut Cache, states: &[LazyStateID]) -> Option<ByteSet> {
    let classes = dfa.byte_classes();
    let mut live = [false; 256];
    for rep in classes.representatives(..) {
        let Some(b) = rep.as_u8() else { continue };
        for &sid in states {
            let n = dfa.next_state(cache, sid, b).ok()?;
            if n.is_quit() {
                return None;
            }
            if !n.is_dead() {
                live[usize::from(classes.get(b))] = true;
                break;
            }
        }
    }
    let mut set = ByteSet::default();
    for b in 0..=u8::MAX {
        if live[usize::from(classes.get(b))] {
            set.insert(b);
        }
    }
    Some(set)
}

/// What may follow `lit` where a match of the pattern whose DFA is `dfa` starts with it, the
/// literal matched in any ASCII case and its whitespace standing for any whitespace byte, as
/// the first stage finds it. `None` when anything may and that is known early: a match can
/// end inside the literal, whitespace inside it stands for runs, or the DFA gave up. An empty
/// `next`: no match starts with the literal.
pub(crate) fn follow(dfa: &DFA, lit: &[u8]) -> Option<Follow> {
    let inner = lit
        .iter()
        .skip(1)
        .take(lit.len().saturating_sub(2))
        .any(|&b| is_space(b));
    if inner || lit.is_empty() {
        return None;
    }
    let mut cache = dfa.create_cache();
    let mut states: Vec<LazyStateID> = Vec::new();
    for behind in BEHIND {
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(behind);
        let sid = dfa.start_state(&mut cache, &config).ok()?;
        if sid.is_quit() {
            return None;
        }
        if !sid.is_dead() && !states.contains(&sid) {
            states.push(sid);
        }
    }
    for &b in lit {
        let variants: &[u8] = if is_space(b) {
            &SPACES
        } else if b.is_ascii_alphabetic() {
            &[b.to_ascii_lowercase(), b.to_ascii_uppercase()]
        } else {
            std::slice::from_ref(&b)
        };
        states = step(dfa, &mut cache, &states, variants)?;
    }
    let next = live_bytes(dfa, &mut cache, &states)?;
    if !SPACES.iter().any(|&w| next.contains(w)) {
        // `allows` never looks past the first byte.
        return Some(Follow {
            next,
            after_space: None,
        });
    }
    // The states after one to eight whitespace bytes (the most `allows` skips).
    let mut after_space = Some(());
    let mut spaced: Vec<LazyStateID> = Vec::new();
    let mut frontier = states;
    for _ in 0..8 {
        let Some(n) = step(dfa, &mut cache, &frontier, &SPACES) else {
            after_space = None;
            break;
        };
        frontier = n;
        for s in &frontier {
            if !spaced.contains(s) {
                spaced.push(*s);
            }
        }
    }
    let after_space = after_space.and_then(|()| {
        let mut set = live_bytes(dfa, &mut cache, &spaced)?;
        // Only the first byte other than whitespace is looked up.
        for &w in &SPACES {
            set.insert(w);
        }
        Some(set)
    });
    Some(Follow { next, after_space })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follows(pattern: &str, lit: &str) -> Option<Follow> {
        let hir = super::super::prefix::parse_bytes(pattern).expect("parses");
        follow(&follow_dfa(&hir).expect("compiles"), lit.as_bytes())
    }

    fn set(pattern: &str, lit: &str) -> Option<ByteSet> {
        follows(pattern, lit).map(|f| f.next)
    }

    #[test]
    fn bytes_after_the_anchor() {
        let s = set(r"(?i)\breturn\s+(?:only|just)\b", "return").expect("a set");
        for b in [b' ', b'\t', b'\n'] {
            assert!(s.contains(b));
        }
        for b in [b's', b'e', b'.', b'-'] {
            assert!(!s.contains(b), "{}", b as char);
        }
    }

    #[test]
    fn case_and_edge_whitespace_are_covered() {
        // Upper case in the text, lower case in the literal.
        let s = set(r"(?i)IGNORE\s+ALL", "ignore").expect("a set");
        assert!(s.contains(b' ') && !s.contains(b'd'));
        // A case-sensitive key prefix: only its own case continues.
        let s = set(r"AKIA[0-9A-Z]{16}", "akia").expect("a set");
        assert!(s.contains(b'Q') && !s.contains(b'q'));
        let s = set(r"rm\s+-rf", "rm ").expect("a set");
        assert!(s.contains(b'-') && s.contains(b' ') && !s.contains(b'x'));
    }

    #[test]
    fn any_byte_where_it_cannot_tell() {
        // The match may end with the literal: every byte may follow.
        let s = set(r"(?i)\bexfil(?:trate)?", "exfil").expect("a set");
        assert!((0..=u8::MAX).all(|b| s.contains(b)));
        // Or inside it.
        assert_eq!(set(r"(?i)\bexf", "exfil"), None);
        // Whitespace inside a literal stands for runs of it.
        assert_eq!(set(r"(?i)turn\s+off\s+the", "turn off"), None);
        // A look-behind the literal does not settle.
        let s = set(r"(?i)\Bfoo\b", "foo").expect("a set");
        assert!(s.contains(b' ') && !s.contains(b'x'));
    }

    #[test]
    fn the_word_after_whitespace() {
        let f = follows(r"(?i)\breturn\s+(?:only|just)\b", "return").expect("a follow");
        assert_eq!(f.after_space.map(|s| s.contains(b'o')), Some(true));
        assert!(f.allows(b"return  only", 6));
        assert!(f.allows(b"return \t Just", 6));
        assert!(!f.allows(b"return the", 6));
        assert!(!f.allows(b"returns", 6));
        // At the end of the text, or after more whitespace than is looked at, the search decides.
        assert!(f.allows(b"return", 6));
        assert!(f.allows(b"return          x", 6));
    }

    #[test]
    fn no_match_starts_with_the_literal() {
        assert_eq!(set(r"(?i)\bsecret\b", "secure"), Some(ByteSet::default()));
    }
}
