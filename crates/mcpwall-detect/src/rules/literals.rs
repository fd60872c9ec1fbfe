//! Finding rule literals in a text: the first stage of every scan.
//!
//! Almost every literal only counts where a word starts: concept terms always, and the anchors
//! of patterns that begin with `\b` or ask for word anchors. Those go into a trie that is walked
//! from each word start and stops at the first byte no literal continues with; in ordinary text
//! that is one to three steps per word, instead of one automaton step per byte with a search
//! for every overlapping literal. The few literals that may start inside a word (`://`,
//! `-----begin`, key prefixes glued to other text) stay in an Aho-Corasick automaton, which is
//! small enough to be a DFA.
//!
//! A pattern's anchors are all in one of the two, so that its hits come in one order: the
//! inline anchored tries of the scan rely on that.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::AtomUse;
use crate::runs::{CLASS, DIGIT, LOWER, UPPER};

/// No transition: the walk ends.
const DEAD: u32 = 0;
const ROOT: u32 = 1;

/// A byte's kind for finding word starts (the rule of [`super::terms::boundary_before`]): a
/// letter's case, a digit, or 0 for anything else.
fn kind(b: u8) -> u8 {
    CLASS[usize::from(b)] & (LOWER | UPPER | DIGIT)
}

/// A trie of lower-cased literals, as a dense transition table over byte classes.
#[derive(Debug)]
struct WordTrie {
    /// Byte to class; class 0 is every byte that no literal holds.
    classes: [u8; 256],
    stride: usize,
    /// `state * stride + class` to the next state.
    next: Vec<u32>,
    /// Per state, the range of `outs` holding the literals that end there.
    out: Vec<(u32, u32)>,
    outs: Vec<u32>,
}

/// Set in a transition's target when literals end at that state.
const HAS_OUTPUT: u32 = 1 << 31;

impl WordTrie {
    fn build(literals: &[(&[u8], u32)]) -> WordTrie {
        let mut classes = [0u8; 256];
        let mut n = 1usize;
        for (lit, _) in literals {
            for &b in lit.iter() {
                let b = b.to_ascii_lowercase();
                if classes[usize::from(b)] == 0 {
                    // At most 256 distinct bytes, and upper-case letters share their class.
                    let c = u8::try_from(n).unwrap_or(u8::MAX);
                    classes[usize::from(b)] = c;
                    classes[usize::from(b.to_ascii_uppercase())] = c;
                    n += 1;
                }
            }
        }
        let stride = n;
        // A plain trie first, as child lists.
        let mut children: Vec<Vec<(u8, usize)>> = vec![Vec::new(); 2];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new(); 2];
        for &(lit, id) in literals {
            let mut state = ROOT as usize;
            for &b in lit {
                let class = classes[usize::from(b)];
                state = match children[state].iter().find(|(c, _)| *c == class) {
                    Some(&(_, s)) => s,
                    None => {
                        let new = children.len();
                        children.push(Vec::new());
                        ends.push(Vec::new());
                        children[state].push((class, new));
                        new
                    }
                };
            }
            ends[state].push(id);
        }
        // Numbered breadth-first, so that the states near the root, which every word visits,
        // sit together in a few cache lines.
        let mut order = vec![ROOT as usize];
        let mut number = vec![0u32; children.len()];
        number[ROOT as usize] = ROOT;
        let mut k = 0;
        while k < order.len() {
            for &(_, c) in &children[order[k]] {
                number[c] = u32::try_from(order.len() + 1).unwrap_or(DEAD);
                order.push(c);
            }
            k += 1;
        }
        let mut next = vec![DEAD; (order.len() + 1) * stride];
        let mut out = vec![(0u32, 0u32); order.len() + 1];
        let mut outs = Vec::new();
        for &old in &order {
            let new = number[old] as usize;
            for &(class, child) in &children[old] {
                let flag = if ends[child].is_empty() {
                    0
                } else {
                    HAS_OUTPUT
                };
                next[new * stride + usize::from(class)] = number[child] | flag;
            }
            let start = outs.len() as u32;
            outs.extend(&ends[old]);
            out[new] = (start, outs.len() as u32);
        }
        WordTrie {
            classes,
            stride,
            next,
            out,
            outs,
        }
    }

    /// Reports every literal that starts at `at`.
    #[inline]
    fn walk(&self, hay: &[u8], at: usize, f: &mut impl FnMut(usize, usize, usize)) {
        let mut state = ROOT as usize;
        for (i, &b) in hay[at..].iter().enumerate() {
            let class = usize::from(self.classes[usize::from(b)]);
            let next = self.next[state * self.stride + class];
            if next == DEAD {
                return;
            }
            state = (next & !HAS_OUTPUT) as usize;
            if next & HAS_OUTPUT != 0 {
                let (lo, hi) = self.out[state];
                for &lit in &self.outs[lo as usize..hi as usize] {
                    f(at, at + i + 1, lit as usize);
                }
            }
        }
    }

    fn memory_usage(&self) -> usize {
        self.next.len() * 4 + self.out.len() * 8 + self.outs.len() * 4
    }
}

/// A literal and those of its uses that one half of the first stage serves.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) literal: usize,
    pub(crate) uses: Vec<AtomUse>,
    /// Served by the automaton, not the word-start trie.
    pub(crate) anywhere: bool,
}

/// Both halves of the first stage.
#[derive(Debug)]
pub(crate) struct LiteralFinder {
    /// Its outputs are indices into `slots`.
    words: WordTrie,
    anywhere: Option<AhoCorasick>,
    /// The slot of each pattern of `anywhere`.
    anywhere_slots: Vec<u32>,
    slots: Vec<Slot>,
    /// Per literal, whether the automaton looks for it (wherever it occurs).
    searched_anywhere: Vec<bool>,
    /// False if the automaton could not be built: scans report themselves incomplete. The
    /// rule set's size limits ([`super::MAX_LITERAL_BYTES`]) keep that from happening.
    pub(crate) complete: bool,
}

fn starts_word(lit: &[u8]) -> bool {
    lit.first().is_some_and(u8::is_ascii_alphanumeric)
}

impl LiteralFinder {
    /// The finder for the uses that `keep` selects (those of one surface). `ordered[m]`:
    /// pattern `m` is tried inline at each hit and needs its hits in text order, so its anchors
    /// all go to one half.
    pub(crate) fn build(
        literals: &[Vec<u8>],
        atoms: &[Vec<AtomUse>],
        ordered: &[bool],
        keep: impl Fn(&AtomUse) -> bool,
    ) -> LiteralFinder {
        let mut split_matcher = vec![false; ordered.len()];
        for (lit, uses) in literals.iter().zip(atoms) {
            for u in uses.iter().filter(|u| keep(u)) {
                if let AtomUse::Anchor { matcher, word } = *u {
                    split_matcher[matcher] |= !(word && starts_word(lit));
                }
            }
        }
        let at_word_start = |lit: &[u8], u: &AtomUse| match *u {
            AtomUse::Term { .. } | AtomUse::Confirm { .. } => starts_word(lit),
            AtomUse::Anchor { matcher, word } => {
                word && starts_word(lit) && !(ordered[matcher] && split_matcher[matcher])
            }
        };
        let mut slots = Vec::new();
        let mut word_lits = Vec::new();
        let mut any_lits = Vec::new();
        let mut anywhere_slots = Vec::new();
        // Slot numbers fit: the rule set's literal count is bounded far below `u32::MAX`.
        let slot_id = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for (id, (lit, uses)) in literals.iter().zip(atoms).enumerate() {
            let (word, any): (Vec<AtomUse>, Vec<AtomUse>) = uses
                .iter()
                .filter(|u| keep(u))
                .cloned()
                .partition(|u| at_word_start(lit, u));
            if !word.is_empty() {
                word_lits.push((lit.as_slice(), slot_id(slots.len())));
                slots.push(Slot {
                    literal: id,
                    uses: word,
                    anywhere: false,
                });
            }
            if !any.is_empty() {
                any_lits.push(lit.as_slice());
                anywhere_slots.push(slot_id(slots.len()));
                slots.push(Slot {
                    literal: id,
                    uses: any,
                    anywhere: true,
                });
            }
        }
        let mut searched_anywhere = vec![false; literals.len()];
        for &slot in &anywhere_slots {
            searched_anywhere[slots[slot as usize].literal] = true;
        }
        let mut complete = true;
        let anywhere = if any_lits.is_empty() {
            None
        } else {
            // A contiguous NFA: for a thousand literals it is smaller than a DFA, stays in
            // cache, and is faster to search as well as to build.
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&any_lits)
                .map_err(|_| complete = false)
                .ok()
        };
        LiteralFinder {
            words: WordTrie::build(&word_lits),
            anywhere,
            anywhere_slots,
            slots,
            searched_anywhere,
            complete,
        }
    }

    /// Reports every literal occurrence as `(start, end, slot)`: first those at word starts,
    /// in order of their start, then the others, in order of their end. A literal with uses in
    /// both halves is reported by both, each with its own slot.
    pub(crate) fn find(&self, hay: &[u8], mut f: impl FnMut(usize, usize, &Slot)) {
        let mut on_slot = |s: usize, e: usize, slot: usize| f(s, e, &self.slots[slot]);
        let mut prev = 0;
        for (i, &b) in hay.iter().enumerate() {
            let k = kind(b);
            if k != 0 && (prev == 0 || (prev == LOWER && k == UPPER)) {
                self.words.walk(hay, i, &mut on_slot);
            }
            prev = k;
        }
        if let Some(ac) = &self.anywhere {
            for m in ac.find_overlapping_iter(hay) {
                let slot = self.anywhere_slots[m.pattern().as_usize()] as usize;
                on_slot(m.start(), m.end(), slot);
            }
        }
    }

    /// Whether the automaton looks for the literal: then it reports all its occurrences, and
    /// the trie a subset of them.
    pub(crate) fn searched_anywhere(&self, literal: usize) -> bool {
        self.searched_anywhere[literal]
    }

    /// Literals in each half: (at word starts, anywhere).
    pub(crate) fn split(&self) -> (usize, usize) {
        (self.words.outs.len(), self.anywhere_slots.len())
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.words.memory_usage() + self.anywhere.as_ref().map_or(0, AhoCorasick::memory_usage)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rules::terms::{Term, boundary_before};

    fn term() -> AtomUse {
        AtomUse::Term {
            concepts: vec![0],
            term: Term {
                lead: Vec::new().into(),
                first_prefix: true,
                rest: Vec::new().into(),
            },
        }
    }

    fn anchor(matcher: usize, word: bool) -> AtomUse {
        AtomUse::Anchor { matcher, word }
    }

    /// Literals, their uses, and which matchers are tried inline.
    fn sample() -> (Vec<Vec<u8>>, Vec<Vec<AtomUse>>, Vec<bool>) {
        let lits: Vec<Vec<u8>> = ["use", "user", "config", "sk-", "a@", "co", "-x"]
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        let atoms = vec![
            vec![term()],
            vec![term(), anchor(0, true)],
            vec![anchor(0, true), anchor(1, false)],
            vec![anchor(2, false)],
            vec![anchor(2, false)],
            // An inline-tried pattern with one word anchor and one that is not: both go to the
            // automaton, so its hits come in one order.
            vec![anchor(3, true)],
            vec![anchor(3, false)],
        ];
        (lits, atoms, vec![false, false, false, true])
    }

    /// What the finder must report: each use at every occurrence where its half finds it.
    fn expected(
        lits: &[Vec<u8>],
        atoms: &[Vec<AtomUse>],
        hay: &[u8],
    ) -> Vec<(usize, usize, usize, bool)> {
        let mut out = Vec::new();
        for (id, lit) in lits.iter().enumerate() {
            for p in 0..=hay.len().saturating_sub(lit.len()) {
                if hay.len() < lit.len() || !hay[p..p + lit.len()].eq_ignore_ascii_case(lit) {
                    continue;
                }
                let at_start = boundary_before(hay, p) && hay[p].is_ascii_alphanumeric();
                for u in &atoms[id] {
                    let anywhere = match *u {
                        AtomUse::Term { .. } | AtomUse::Confirm { .. } => false,
                        AtomUse::Anchor { matcher, word } => !word || matcher == 3,
                    };
                    if anywhere || at_start {
                        out.push((p, p + lit.len(), id, anywhere));
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn found(f: &LiteralFinder, hay: &[u8]) -> Vec<(usize, usize, usize, bool)> {
        let mut out = Vec::new();
        f.find(hay, |s, e, slot| {
            for _ in &slot.uses {
                out.push((s, e, slot.literal, slot.anywhere));
            }
        });
        out.sort_unstable();
        out
    }

    #[test]
    fn word_starts_and_anywhere() {
        let (lits, atoms, ordered) = sample();
        let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| true);
        assert!(f.complete);
        let hay = b"Use the user's config. myconfig userConfig sk-abc xsk-1 data@x co-x";
        let got = found(&f, hay);
        assert_eq!(got, expected(&lits, &atoms, hay));
        // "config" inside "myconfig" is not a word start; inside "userConfig" it is.
        assert!(!got.contains(&(25, 31, 2, false)));
        assert!(got.contains(&(25, 31, 2, true)));
        assert!(got.contains(&(36, 42, 2, false)));
        // Sub-word literals are found inside words.
        assert!(got.iter().any(|&(s, _, id, _)| id == 3 && s == 51));
        assert!(got.iter().any(|&(_, _, id, _)| id == 4));
    }

    #[test]
    fn keep_selects_uses() {
        let (lits, atoms, ordered) = sample();
        let f = LiteralFinder::build(&lits, &atoms, &ordered, |u| {
            matches!(u, AtomUse::Term { .. })
        });
        let got = found(&f, b"user sk-1 config");
        assert_eq!(got, vec![(0, 3, 0, false), (0, 4, 1, false)]);
    }

    proptest! {
        #[test]
        fn same_as_brute_force(hay in "[a-zA-Z@ .-]{0,80}") {
            let (lits, atoms, ordered) = sample();
            let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| true);
            prop_assert_eq!(found(&f, hay.as_bytes()), expected(&lits, &atoms, hay.as_bytes()));
        }
    }
}
