//! Finding rule literals in a text: the first stage of every scan.
//!
//! Almost every literal only counts where a word starts: concept terms always, and the anchors
//! of patterns that begin with `\b` or ask for word anchors. Those go into a trie that is walked
//! from each word start and stops at the first byte no literal continues with; in ordinary text
//! that is one to three steps per word, instead of one automaton step per byte with a search
//! for every overlapping literal. The literals that may start inside a word (`://`,
//! `-----begin`, key prefixes glued to other text) stay in an Aho-Corasick automaton, except
//! those holding whitespace between other bytes (`' or`, `| sh`): the automaton finds their
//! head (`'`, `|`) and a second trie walks on from there, with whitespace standing for any run
//! of it, as `\s+` does in the patterns, so that tabs or doubled spaces do not slip past an
//! anchor. Whitespace in word-start literals (`turn off`) works the same way.
//!
//! A pattern tried inline at its hits has its anchors all in the tries or all in the automaton,
//! so that its hits come in one order: the inline tries of the scan rely on that.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, Span, StartKind};

use std::ops::Range;

use super::trie::{SPACES, WordTrie, is_space};
use super::{AtomUse, FollowCell};
use crate::runs::{self, Runs};
use crate::surface::{Surface, SurfaceSet};

/// The first stage's byte automaton. Its state is the previous byte's kind: 0 for a byte that
/// is not part of a token (see [`runs::CLASS`]), then lower case, upper case, digit, and token
/// punctuation (`+/=_-`). Indexed by `state * 256 + byte`, an entry gives the byte's kind
/// (the next state, low three bits), [`STARTS_WORD`] where a word starts (a letter or digit
/// after anything else, or an upper-case letter after a lower-case one: `userConfig`, the
/// rule of [`super::terms::boundary_before`]), [`RUN_START`] and [`RUN_END`] where a token run
/// starts or has just ended, and the byte's class in the high byte. One lookup per byte serves
/// the word-start trie and the runs pass; the branch is taken only at those edges.
static STEP: [u16; 2048] = {
    let mut t = [0u16; 2048];
    let mut prev = 0;
    while prev < 5 {
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            let class = runs::CLASS[i];
            let kind: u16 = if b.is_ascii_lowercase() {
                1
            } else if b.is_ascii_uppercase() {
                2
            } else if b.is_ascii_digit() {
                3
            } else if class & runs::TOKEN != 0 {
                4
            } else {
                0
            };
            let alnum = kind != 0 && kind != 4;
            let starts = alnum && (prev == 0 || prev == 4 || (prev == 1 && kind == 2));
            let mut e = kind | (class as u16) << 8;
            if starts {
                e |= STARTS_WORD;
            }
            if prev == 0 && kind != 0 {
                e |= RUN_START;
            }
            if prev != 0 && kind == 0 {
                e |= RUN_END;
            }
            t[prev * 256 + i] = e;
            i += 1;
        }
        prev += 1;
    }
    t
};

/// Per byte, its kind as [`STEP`] has it, times 256: the row of `STEP` for the next byte. Taken
/// from the byte itself rather than from the step, so that each step's lookup waits for no
/// other: the loop is not one chain of dependent loads.
static KIND: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (STEP[i] & 7) << 8;
        i += 1;
    }
    t
};

const STARTS_WORD: u16 = 8;
const RUN_START: u16 = 16;
const RUN_END: u16 = 32;
const EDGES: u16 = STARTS_WORD | RUN_START | RUN_END;

/// The end of the string holding a token run that ends at `run_end`, moving the cursor
/// `string` on to it (`len`, the text's length, when there are no strings).
fn end_of_string(
    strings: &[Range<usize>],
    string: &mut usize,
    run_end: usize,
    len: usize,
) -> usize {
    while *string + 1 < strings.len() && strings[*string].end < run_end {
        *string += 1;
    }
    strings.get(*string).map_or(len, |r| r.end)
}

/// A literal and those of its uses that one part of the first stage serves.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) literal: usize,
    pub(crate) uses: Vec<AtomUse>,
    /// Per use, the surfaces it serves; a scan skips the others' uses.
    pub(crate) surfaces: Vec<SurfaceSet>,
    /// The surfaces some use serves: a hit on any other is passed over at once.
    pub(crate) serves: SurfaceSet,
    /// Found wherever it occurs, not only where a word starts.
    pub(crate) anywhere: bool,
    /// Per use, what may follow the literal in a match of an anchored pattern (see
    /// [`super::follow`]).
    pub(crate) follow: Vec<FollowCell>,
}

/// Which part of the first stage serves a use of a literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// The trie walked from word starts.
    Words,
    /// The trie of sub-word literals holding whitespace, walked where the automaton finds the
    /// head of one: whitespace in them stands for any run of it.
    Spaced,
    /// The automaton: every other sub-word literal, matched exactly.
    Exact,
}

/// The literal with each whitespace byte at its start or end replaced by every kind of
/// whitespace (the literal itself when it has none there).
fn edge_whitespace_variants(lit: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![lit.to_vec()];
    let last = lit.len().saturating_sub(1);
    let edges: &[usize] = if last == 0 { &[0] } else { &[0, last] };
    for &at in edges {
        if !lit.get(at).is_some_and(|&b| is_space(b)) {
            continue;
        }
        out = out
            .into_iter()
            .flat_map(|v| {
                SPACES.iter().map(move |&w| {
                    let mut v = v.clone();
                    v[at] = w;
                    v
                })
            })
            .collect();
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A hit of the automaton: start, end, and the slot of its literal or [`HEAD`].
type ExactHit = (usize, usize, u32);

/// Pieces of a long text the automaton walks side by side (see [`LiteralFinder::find_exact`]).
const LANES: usize = 4;
/// Bytes walked in pieces at a time (see [`LiteralFinder::find_exact`]).
const WINDOW: usize = 32 << 10;
/// Text shorter than this many bytes per piece is walked in one.
const MIN_LANE: usize = 512;

/// What the automaton found: a literal of its own, or the head of literals holding whitespace.
const HEAD: u32 = u32::MAX;

/// The part of a literal up to its first whitespace after other bytes ("'" of "' or",
/// "physical" of "physical address"): found exactly by the automaton, it starts a walk of the
/// trie of such literals.
fn head(lit: &[u8]) -> &[u8] {
    let first = lit.iter().position(|&b| !is_space(b)).unwrap_or(0);
    let end = lit[first..]
        .iter()
        .position(|&b| is_space(b))
        .map_or(lit.len(), |k| first + k);
    &lit[..end]
}

/// The parts of the first stage.
#[derive(Debug)]
pub(crate) struct LiteralFinder {
    /// Its outputs, like those of the other parts, are indices into `slots`.
    words: WordTrie,
    /// Sub-word literals holding whitespace, walked from the heads the automaton finds.
    spaced: WordTrie,
    exact: Option<DFA>,
    /// The slot of each pattern of `exact`, or [`HEAD`].
    exact_slots: Vec<u32>,
    slots: Vec<Slot>,
    /// Per literal, the surfaces for which some part looks for it wherever it occurs.
    searched_anywhere: Vec<SurfaceSet>,
    /// False if the automaton or a trie could not be built whole: scans report themselves
    /// incomplete. The rule set's size limits ([`super::MAX_LITERAL_BYTES`]) keep the
    /// automaton from that; a trie of millions of literals could still be.
    pub(crate) complete: bool,
}

fn starts_word(lit: &[u8]) -> bool {
    lit.first().is_some_and(u8::is_ascii_alphanumeric)
}

/// Whitespace between other bytes ("' or"), which a run of whitespace may replace. Leading or
/// trailing whitespace (" st", "rm ") needs no such care: a run ends (or starts) with one byte.
fn holds_whitespace(lit: &[u8]) -> bool {
    let first = lit.iter().position(|&b| !is_space(b));
    let last = lit.iter().rposition(|&b| !is_space(b));
    match (first, last) {
        (Some(a), Some(z)) => lit[a..z].iter().any(|&b| is_space(b)),
        _ => false,
    }
}

impl LiteralFinder {
    /// The finder for every use that serves some surface (`surfaces` tells which). One finder
    /// serves every surface: the surfaces share most of their literals, and one each cost the
    /// build time and the memory of ten (about 6 MB and 7 ms a surface). `ordered[m]`:
    /// pattern `m` is tried inline at each hit and needs its hits in text order: the word-start
    /// trie reports in order of the start, the automaton (and the walks it starts) in order of
    /// the end, so its anchors all go to one or the other.
    pub(crate) fn build(
        literals: &[Vec<u8>],
        atoms: &[Vec<AtomUse>],
        ordered: &[bool],
        surfaces: impl Fn(&AtomUse) -> SurfaceSet,
    ) -> LiteralFinder {
        let keep = |u: &AtomUse| surfaces(u) != SurfaceSet::default();
        let natural = |lit: &[u8], u: &AtomUse| {
            let word = match *u {
                AtomUse::Term { .. } | AtomUse::Confirm { .. } => true,
                AtomUse::Anchor { word, .. } => word,
            };
            if word && starts_word(lit) {
                Part::Words
            } else if holds_whitespace(lit) {
                Part::Spaced
            } else {
                Part::Exact
            }
        };
        let (mut in_tries, mut in_exact) = (vec![false; ordered.len()], vec![false; ordered.len()]);
        for (lit, uses) in literals.iter().zip(atoms) {
            for u in uses.iter().filter(|u| keep(u)) {
                if let AtomUse::Anchor { matcher, .. } = *u {
                    if natural(lit, u) == Part::Words {
                        in_tries[matcher] = true;
                    } else {
                        in_exact[matcher] = true;
                    }
                }
            }
        }
        let part = |lit: &[u8], u: &AtomUse| match *u {
            AtomUse::Anchor { matcher, .. }
                if ordered[matcher]
                    && in_exact[matcher]
                    && in_tries[matcher]
                    && natural(lit, u) == Part::Words =>
            {
                // Off the word-start trie, but whitespace inside still takes runs.
                if holds_whitespace(lit) {
                    Part::Spaced
                } else {
                    Part::Exact
                }
            }
            _ => natural(lit, u),
        };
        let mut slots = Vec::new();
        let (mut word_lits, mut spaced_lits) = (Vec::new(), Vec::new());
        let mut exact_lits: Vec<Vec<u8>> = Vec::new();
        let mut exact_slots = Vec::new();
        let mut searched_anywhere = vec![SurfaceSet::default(); literals.len()];
        // Slot numbers fit: the rule set's literal count is bounded far below `u32::MAX`.
        let slot_id = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for (id, (lit, uses)) in literals.iter().zip(atoms).enumerate() {
            for p in [Part::Words, Part::Spaced, Part::Exact] {
                let these: Vec<AtomUse> = uses
                    .iter()
                    .filter(|u| keep(u) && part(lit, u) == p)
                    .cloned()
                    .collect();
                if these.is_empty() {
                    continue;
                }
                let slot = slot_id(slots.len());
                match p {
                    Part::Words => word_lits.push((lit.as_slice(), slot)),
                    Part::Spaced => spaced_lits.push((lit.as_slice(), slot)),
                    Part::Exact => {
                        // Whitespace at an edge ("rm ", " st") stands for any one whitespace
                        // byte: "rm\t-rf" is "rm -rf" to a shell.
                        for variant in edge_whitespace_variants(lit) {
                            exact_lits.push(variant);
                            exact_slots.push(slot);
                        }
                    }
                }
                let served: Vec<SurfaceSet> = these.iter().map(&surfaces).collect();
                let serves = served
                    .iter()
                    .fold(SurfaceSet::default(), |a, &b| a.union(b));
                if p != Part::Words {
                    searched_anywhere[id] = searched_anywhere[id].union(serves);
                }
                slots.push(Slot {
                    literal: id,
                    follow: these.iter().map(|_| FollowCell::default()).collect(),
                    serves,
                    surfaces: served,
                    uses: these,
                    anywhere: p != Part::Words,
                });
            }
        }
        let mut heads: Vec<&[u8]> = spaced_lits.iter().map(|(l, _)| head(l)).collect();
        heads.sort_unstable();
        heads.dedup();
        // A head that extends another ("')" after "'") starts no walk the other does not.
        heads.dedup_by(|b, a| b.starts_with(a));
        for h in heads {
            exact_lits.push(h.to_vec());
            exact_slots.push(HEAD);
        }
        let words = WordTrie::build(&word_lits);
        let spaced = WordTrie::build(&spaced_lits);
        let mut complete = words.complete && spaced.complete;
        let exact = if exact_lits.is_empty() {
            None
        } else {
            // A DFA: with the word-start literals in the trie, some 550 patterns are left here
            // (for tool_result), few enough for tables of a few hundred KiB per surface (the
            // literal index of all surfaces grew from 1.7 to 4.9 MB). It searches prose 18%
            // faster than a contiguous NFA and costs about 7 ms more to build, once per
            // surface. An earlier measurement preferred the NFA when every literal was here.
            // Stepped by `find` itself: the crate's overlapping search keeps its position in
            // memory and checks bounds at every byte, 20 instructions a byte against 10.
            DFA::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Unanchored)
                .prefilter(true)
                .build(&exact_lits)
                .map_err(|_| complete = false)
                .ok()
        };
        LiteralFinder {
            words,
            spaced,
            exact,
            exact_slots,
            slots,
            searched_anywhere,
            complete,
        }
    }

    /// Reports every literal occurrence as `(start, end, slot)`: first those at word starts, in
    /// order of their start, then those of the automaton (and the walks it starts), in order of
    /// their end. A literal with uses in several parts is reported by each, with its own slot.
    pub(crate) fn find(&self, hay: &[u8], mut f: impl FnMut(usize, usize, &Slot)) {
        let mut on_slot = |s: usize, e: usize, slot: usize| f(s, e, &self.slots[slot]);
        let mut state = 0usize;
        for (i, &b) in hay.iter().enumerate() {
            // The mask keeps the index inside the table without a bounds check.
            let step = STEP[(state | usize::from(b)) & 2047];
            if step & STARTS_WORD != 0 {
                self.words.walk(hay, i, &mut on_slot);
            }
            state = usize::from(KIND[usize::from(b)]);
        }
        self.find_exact(hay, &mut on_slot);
    }

    /// [`LiteralFinder::find`], and in the same loop the runs of each string (`strings`: their
    /// ranges, in order, separated by bytes outside every token) into `runs`, as
    /// [`runs::find_runs`] finds them.
    // Kept out of line: inlined into the scan, its loop was compiled 14% slower (more values
    // live across the word-start walks), and whether it was inlined changed with unrelated
    // edits.
    #[inline(never)]
    pub(crate) fn find_with_runs(
        &self,
        hay: &[u8],
        strings: &[Range<usize>],
        out: &mut Runs,
        mut f: impl FnMut(usize, usize, &Slot),
    ) {
        let mut on_slot = |s: usize, e: usize, slot: usize| f(s, e, &self.slots[slot]);
        for r in strings {
            runs::find_digit_runs(hay, r.clone(), &mut out.digits);
        }
        // The string holding the current position, and where its gap or token run began.
        let mut string = 0usize;
        let mut since = strings.first().map_or(0, |r| r.start);
        let mut flags = 0u16;
        let mut state = 0usize;
        for (i, &b) in hay.iter().enumerate() {
            let step = STEP[(state | usize::from(b)) & 2047];
            if step & EDGES != 0 {
                if step & RUN_END != 0 {
                    let class = (flags >> 8) as u8;
                    if runs::worth_a_look(i - since, class) {
                        let hi = end_of_string(strings, &mut string, i, hay.len());
                        runs::token_run(hay, since..i, class, hi, out);
                    }
                    since = i;
                }
                if step & RUN_START != 0 {
                    if i - since >= runs::MIN_GAP {
                        self.gaps(hay, strings, &mut string, since..i, out);
                    }
                    since = i;
                    flags = 0;
                }
                if step & STARTS_WORD != 0 {
                    self.words.walk(hay, i, &mut on_slot);
                }
            }
            flags |= step;
            state = usize::from(KIND[usize::from(b)]);
        }
        if state != 0 {
            let hi = end_of_string(strings, &mut string, hay.len(), hay.len());
            runs::token_run(hay, since..hay.len(), (flags >> 8) as u8, hi, out);
        } else {
            self.gaps(hay, strings, &mut string, since..hay.len(), out);
        }
        self.find_exact(hay, &mut on_slot);
    }

    /// The padding in `gap`, bytes outside every token, cut at the ends of strings; moves
    /// `string` to the one holding the end of the gap.
    fn gaps(
        &self,
        hay: &[u8],
        strings: &[Range<usize>],
        string: &mut usize,
        gap: Range<usize>,
        out: &mut Runs,
    ) {
        loop {
            let Some(r) = strings.get(*string) else {
                return;
            };
            let lo = gap.start.max(r.start);
            let hi = gap.end.min(r.end);
            if lo < hi {
                runs::whitespace_gap(hay, lo..hi, r.end, out);
            }
            if gap.end <= r.end || *string + 1 == strings.len() {
                return;
            }
            *string += 1;
        }
    }

    /// The automaton's part of [`LiteralFinder::find`].
    ///
    /// One walk of a DFA is a chain of dependent loads, a few cycles each, whatever the
    /// processor could do besides. Long text is therefore cut into [`LANES`] pieces walked side
    /// by side in one loop, each piece started the longest literal's length early so that it
    /// finds every literal ending inside it. The hits of the first piece are reported as they
    /// come, those of the others kept until it is done: the order is that of one walk.
    fn find_exact(&self, hay: &[u8], on_slot: &mut impl FnMut(usize, usize, usize)) {
        let Some(dfa) = &self.exact else { return };
        // An unanchored start state exists: the DFA was built with one.
        let Ok(start) = dfa.start_state(Anchored::No) else {
            return;
        };
        let overlap = dfa.max_pattern_len();
        if hay.len() / LANES < MIN_LANE.max(overlap) {
            return self.find_exact_one(dfa, start, hay, on_slot);
        }
        // Window by window, so that the hits kept meanwhile stay few (a text of nothing but
        // a literal's head has one at every byte); the last window takes the rest.
        let mut later: [Vec<ExactHit>; LANES] = std::array::from_fn(|_| Vec::new());
        let mut lo = 0;
        while lo < hay.len() {
            let hi = if hay.len() - lo < 2 * WINDOW {
                hay.len()
            } else {
                lo + WINDOW
            };
            self.find_exact_window(dfa, start, hay, lo..hi, &mut later, on_slot);
            for hits in &mut later[1..] {
                for &h in hits.iter() {
                    self.exact_hit(hay, h, on_slot);
                }
                hits.clear();
            }
            lo = hi;
        }
    }

    /// The literals ending in `window` (after its first byte's start, up to its end), in
    /// [`LANES`] pieces: those of the first reported, the others' kept in `later`.
    fn find_exact_window(
        &self,
        dfa: &DFA,
        start: StateID,
        hay: &[u8],
        window: Range<usize>,
        later: &mut [Vec<ExactHit>; LANES],
        on_slot: &mut impl FnMut(usize, usize, usize),
    ) {
        let overlap = dfa.max_pattern_len();
        let lane = window.len() / LANES;
        // Piece k walks `from[k]..to[k]` and owns the literals ending after `own[k]`.
        let own: [usize; LANES] = std::array::from_fn(|k| window.start + k * lane);
        let from: [usize; LANES] = std::array::from_fn(|k| own[k].saturating_sub(overlap));
        let to: [usize; LANES] =
            std::array::from_fn(|k| own.get(k + 1).copied().unwrap_or(window.end));
        let mut sid = [start; LANES];
        let mut hit = |k: usize, sid: StateID, i: usize, later: &mut [Vec<ExactHit>; LANES]| {
            if i < own[k] {
                return;
            }
            for hit in self.hits_at(dfa, sid, i + 1) {
                if k == 0 {
                    self.exact_hit(hay, hit, on_slot);
                } else {
                    later[k].push(hit);
                }
            }
        };
        // Each piece is at least `lane` bytes long (those that start early, and the last, are
        // longer): all walk `lane` bytes together, then each its own rest.
        for j in 0..lane {
            for k in 0..LANES {
                let i = from[k] + j;
                let Some(&b) = hay.get(i) else { continue };
                sid[k] = dfa.next_state(Anchored::No, sid[k], b);
                if dfa.is_match(sid[k]) {
                    hit(k, sid[k], i, later);
                }
            }
        }
        for k in 0..LANES {
            for (i, &b) in hay.iter().enumerate().take(to[k]).skip(from[k] + lane) {
                sid[k] = dfa.next_state(Anchored::No, sid[k], b);
                if dfa.is_match(sid[k]) {
                    hit(k, sid[k], i, later);
                }
            }
        }
    }

    /// The literals a match state of the automaton holds, all ending at `end` (with standard
    /// semantics a match state holds every literal ending there).
    fn hits_at<'a>(
        &'a self,
        dfa: &'a DFA,
        sid: StateID,
        end: usize,
    ) -> impl Iterator<Item = ExactHit> + 'a {
        (0..dfa.match_len(sid)).map(move |m| {
            let pid = dfa.match_pattern(sid, m);
            let slot = self.exact_slots[pid.as_usize()];
            (end - dfa.pattern_len(pid), end, slot)
        })
    }

    /// A literal of the automaton, or the head of spaced literals to walk on from.
    fn exact_hit(
        &self,
        hay: &[u8],
        (start, end, slot): ExactHit,
        on_slot: &mut impl FnMut(usize, usize, usize),
    ) {
        match slot {
            HEAD => self.spaced.walk(hay, start, on_slot),
            slot => on_slot(start, end, slot as usize),
        }
    }

    /// [`LiteralFinder::find_exact`] for short text: one walk, skipping ahead with the
    /// automaton's prefilter whenever it is back at its start.
    fn find_exact_one(
        &self,
        dfa: &DFA,
        mut sid: StateID,
        hay: &[u8],
        on_slot: &mut impl FnMut(usize, usize, usize),
    ) {
        let prefilter = dfa.prefilter();
        let mut i = 0;
        while let Some(&b) = hay.get(i) {
            sid = dfa.next_state(Anchored::No, sid, b);
            if dfa.is_special(sid) {
                if dfa.is_match(sid) {
                    // With standard semantics a match state holds every literal ending here.
                    for hit in self.hits_at(dfa, sid, i + 1) {
                        self.exact_hit(hay, hit, on_slot);
                    }
                } else if let Some(pre) = prefilter {
                    // Back at the start state (the only other special state with a prefilter):
                    // no literal starts before the prefilter's next candidate. Text with few of
                    // the literals' first bytes (most non-Latin text) is skipped at memchr
                    // speed.
                    match pre.find_in(hay, Span::from(i..hay.len())).into_option() {
                        None => return,
                        Some(next) if next > i => {
                            i = next;
                            continue;
                        }
                        Some(_) => {}
                    }
                }
            }
            i += 1;
        }
    }

    /// Whether some part looks for the literal wherever it occurs, for a use on `surface`:
    /// then that slot reports all its occurrences, and the word-start slot a subset of them.
    pub(crate) fn searched_anywhere(&self, literal: usize, surface: Surface) -> bool {
        self.searched_anywhere[literal].contains(surface)
    }

    /// Literals by where they are looked for: (at word starts, anywhere).
    pub(crate) fn split(&self) -> (usize, usize) {
        let anywhere = self.slots.iter().filter(|s| s.anywhere).count();
        (self.slots.len() - anywhere, anywhere)
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.words.memory_usage()
            + self.spaced.memory_usage()
            + self.exact.as_ref().map_or(0, Automaton::memory_usage)
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
        let lits: Vec<Vec<u8>> = [
            "use", "user", "config", "sk-", "a@", "co", "-x", "' or", "' o", "turn off", "turn on",
            "~x", "turn ",
        ]
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
            // Whitespace inside: any run of it, at word starts or anywhere.
            vec![anchor(4, false)],
            vec![anchor(4, false)],
            vec![anchor(5, true)],
            // Inline-tried and split across parts: the word anchor with whitespace inside goes
            // off the word-start trie but still takes runs.
            vec![anchor(6, true)],
            vec![anchor(6, false)],
            // Ends where "turn off" has its whitespace run: reported once, and the run goes on.
            vec![anchor(5, true)],
        ];
        (
            lits,
            atoms,
            vec![false, false, false, true, false, false, true],
        )
    }

    /// Where `lit` matches at `p`, as the tries match: whitespace in it (between other bytes)
    /// takes any run of whitespace.
    fn trie_match(hay: &[u8], p: usize, lit: &[u8]) -> Option<usize> {
        let mut at = p;
        for (k, &c) in lit.iter().enumerate() {
            let &b = hay.get(at)?;
            if is_space(c) {
                if !is_space(b) {
                    return None;
                }
                at += 1;
                let inner = k > 0 && k + 1 < lit.len() && !is_space(lit[k + 1]);
                while inner && hay.get(at).is_some_and(|&b| is_space(b)) {
                    at += 1;
                }
            } else if b.eq_ignore_ascii_case(&c) {
                at += 1;
            } else {
                return None;
            }
        }
        Some(at)
    }

    /// What the finder must report: each use at every occurrence where its half finds it.
    fn expected(
        lits: &[Vec<u8>],
        atoms: &[Vec<AtomUse>],
        hay: &[u8],
    ) -> Vec<(usize, usize, usize, bool)> {
        let mut out = Vec::new();
        for (id, lit) in lits.iter().enumerate() {
            for p in 0..hay.len() {
                let at_start = boundary_before(hay, p) && hay[p].is_ascii_alphanumeric();
                for u in &atoms[id] {
                    let anywhere = match *u {
                        AtomUse::Term { .. } | AtomUse::Confirm { .. } => false,
                        AtomUse::Anchor { matcher, word } => !word || matcher == 3 || matcher == 6,
                    };
                    // Literals of the automaton match exactly; the tries' take whitespace runs.
                    let exact = anywhere && !holds_whitespace(lit);
                    let end = if exact {
                        let e = p + lit.len();
                        (e <= hay.len() && hay[p..e].eq_ignore_ascii_case(lit)).then_some(e)
                    } else {
                        trie_match(hay, p, lit)
                    };
                    if let Some(e) = end
                        && (anywhere || at_start)
                    {
                        out.push((p, e, id, anywhere));
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
        let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
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
            if matches!(u, AtomUse::Term { .. }) {
                SurfaceSet::all()
            } else {
                SurfaceSet::default()
            }
        });
        let got = found(&f, b"user sk-1 config");
        assert_eq!(got, vec![(0, 3, 0, false), (0, 4, 1, false)]);
    }

    #[test]
    fn spaces_in_literals_take_any_whitespace_run() {
        let lits = vec![b"i have a".to_vec(), b"turn off".to_vec()];
        let atoms = vec![vec![anchor(0, true)], vec![anchor(1, true)]];
        let f = LiteralFinder::build(&lits, &atoms, &[false, false], |_| SurfaceSet::all());
        let hay = b"I  have\ta plan. Turn\r\n  off now. turnoff";
        assert_eq!(found(&f, hay), vec![(0, 9, 0, false), (16, 27, 1, false)]);
    }

    #[test]
    fn a_literal_with_a_run_of_spaces_hides_no_other() {
        // The second literal's two spaces must not take the run away from the first: both
        // are found after any run, whatever surfaces they serve.
        let lits = vec![b"set aside".to_vec(), b"set  aside".to_vec()];
        let atoms = vec![vec![anchor(0, true)], vec![anchor(1, true)]];
        let f = LiteralFinder::build(&lits, &atoms, &[false, false], |_| SurfaceSet::all());
        for hay in [&b"set aside"[..], b"set  aside", b"set \t\n aside"] {
            let got = found(&f, hay);
            let end = hay.len();
            assert_eq!(got, vec![(0, end, 0, false), (0, end, 1, false)], "{hay:?}");
        }
    }

    #[test]
    fn sub_word_literals_with_whitespace_take_runs() {
        let (lits, atoms, ordered) = sample();
        let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
        let hay = b"x' \t OR 1=1; turn\t\toff, return  on ~x";
        let got = found(&f, hay);
        assert_eq!(got, expected(&lits, &atoms, hay));
        assert!(
            got.contains(&(1, 7, 7, true)),
            "' or across a space and a tab: {got:?}"
        );
        assert!(
            got.contains(&(13, 22, 9, false)),
            "turn off across two tabs: {got:?}"
        );
    }

    #[test]
    fn whitespace_at_an_edge_takes_any_kind() {
        let v = edge_whitespace_variants(b"rm ");
        assert_eq!(v.len(), SPACES.len());
        assert!(v.contains(&b"rm\t".to_vec()) && v.contains(&b"rm\n".to_vec()));
        assert_eq!(
            edge_whitespace_variants(b" st ").len(),
            SPACES.len() * SPACES.len()
        );
        assert_eq!(edge_whitespace_variants(b"a b"), vec![b"a b".to_vec()]);
        assert_eq!(edge_whitespace_variants(b" ").len(), SPACES.len());
    }

    /// Text long enough to be walked in [`LANES`] pieces, with `filler` repeated around `lit`
    /// placed across every boundary between pieces and at both ends.
    fn across_lanes(filler: &str, lit: &str, shift: usize, len: usize) -> Vec<u8> {
        let mut hay: Vec<u8> = filler.bytes().cycle().take(len).collect();
        // Where pieces start, as `find_exact` cuts the text: in windows, then in LANES.
        let mut at = vec![0, len - lit.len()];
        let mut lo = 0;
        while lo < len {
            let hi = if len - lo < 2 * WINDOW {
                len
            } else {
                lo + WINDOW
            };
            let lane = (hi - lo) / LANES;
            at.extend((0..LANES).map(|k| (lo + k * lane).saturating_sub(shift)));
            lo = hi;
        }
        for a in at {
            hay[a..a + lit.len()].copy_from_slice(lit.as_bytes());
        }
        hay
    }

    #[test]
    fn literals_across_the_pieces_of_a_long_text() {
        let (lits, atoms, ordered) = sample();
        let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
        let texts: Vec<String> = lits
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .chain(["' \t or", "data@x", "co-x", "turn\t\ton"].map(String::from))
            .collect();
        for lit in &texts {
            for shift in 0..=lit.len() + 1 {
                let hay =
                    across_lanes("Use the user's config; ", lit, shift, LANES * MIN_LANE + 37);
                assert_eq!(
                    found(&f, &hay),
                    expected(&lits, &atoms, &hay),
                    "{lit:?} shifted {shift}"
                );
            }
        }
        // Several windows: the literals across their edges too, in the order of one walk.
        for lit in ["sk-", "' \t or", "turn\t\ton", "a@"] {
            for shift in [0, 1, 2, lit.len()] {
                let hay = across_lanes("x' or sk-a co ", lit, shift, 3 * WINDOW + 1234);
                let [pieces, one] = exact_in_order(&f, &hay);
                assert!(!one.is_empty());
                assert_eq!(pieces, one, "{lit:?} shifted {shift}");
            }
        }
    }

    /// The hits of the automaton, in the order they are reported: by pieces, and in one walk.
    fn exact_in_order(f: &LiteralFinder, hay: &[u8]) -> [Vec<(usize, usize, usize)>; 2] {
        let (mut pieces, mut one) = (Vec::new(), Vec::new());
        f.find_exact(hay, &mut |s, e, slot| pieces.push((s, e, slot)));
        let dfa = f.exact.as_ref().expect("the sample has sub-word literals");
        let start = dfa.start_state(Anchored::No).expect("unanchored start");
        f.find_exact_one(dfa, start, hay, &mut |s, e, slot| one.push((s, e, slot)));
        [pieces, one]
    }

    proptest! {
        #[test]
        fn same_as_brute_force_in_long_text(
            pieces in proptest::collection::vec("[a-zA-Z@ '\t.-]{1,40}", 1..8),
            len in (LANES * MIN_LANE)..(LANES * MIN_LANE + 300),
        ) {
            let (lits, atoms, ordered) = sample();
            let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
            let hay: Vec<u8> = pieces.concat().into_bytes().into_iter().cycle().take(len).collect();
            prop_assert_eq!(found(&f, &hay), expected(&lits, &atoms, &hay));
            let [pieces, one] = exact_in_order(&f, &hay);
            prop_assert_eq!(pieces, one);
        }

        #[test]
        fn same_as_brute_force(hay in "[a-zA-Z@ '\t.-]{0,80}") {
            let (lits, atoms, ordered) = sample();
            let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
            prop_assert_eq!(found(&f, hay.as_bytes()), expected(&lits, &atoms, hay.as_bytes()));
        }

        /// The runs found during the literal pass are those of the plain runs pass, string by
        /// string, and so are the literals.
        #[test]
        fn runs_found_on_the_way_are_the_plain_ones(
            parts in proptest::collection::vec("([a-zA-Z0-9+/=_-]{0,30}|[ \t\n\r]{0,130}|[.,;:!?@'é]{0,3}){0,12}", 1..4),
            padding in 0usize..3,
        ) {
            let (lits, atoms, ordered) = sample();
            let f = LiteralFinder::build(&lits, &atoms, &ordered, |_| SurfaceSet::all());
            // Strings joined as a JSON value's are, some with long padding inside.
            let mut hay = String::new();
            let mut strings = Vec::new();
            for (k, p) in parts.iter().enumerate() {
                if k > 0 {
                    hay.push_str("\n\n");
                }
                let start = hay.len();
                hay.push_str(p);
                if k == padding {
                    hay.push_str(&" ".repeat(120));
                    hay.push_str("x1");
                }
                strings.push(start..hay.len());
            }
            let hay = hay.as_bytes();
            let mut want = Runs::default();
            for r in &strings {
                runs::find_runs(hay, r.clone(), &mut want);
            }
            let mut got = Runs::default();
            let mut hits = Vec::new();
            f.find_with_runs(hay, &strings, &mut got, |s, e, slot| hits.push((s, e, slot.literal)));
            prop_assert_eq!(got, want);
            let mut plain = Vec::new();
            f.find(hay, |s, e, slot| plain.push((s, e, slot.literal)));
            prop_assert_eq!(hits, plain);
        }
    }
}
