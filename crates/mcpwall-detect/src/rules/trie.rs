//! A trie of literals as a dense transition table over byte classes, walked from a given
//! position: the structure behind both tries of the literal pass (see `literals`).
//!
//! Letters match in either case, and whitespace in a literal matches any run of whitespace.

/// No transition: the walk ends.
const DEAD: u32 = 0;
const ROOT: u32 = 1;

/// A trie of lower-cased literals, as a dense transition table over byte classes.
#[derive(Debug)]
pub(super) struct WordTrie {
    /// Byte to class; class 0 is every byte that no literal holds.
    classes: [u8; 256],
    stride: usize,
    /// `state * stride + class` to the next state, as `next_state * stride` (the start of its
    /// row), so that a step of a walk is an add and a load: each step waits for the one before,
    /// and a multiplication in that chain made the walks, most of the literal pass on prose,
    /// about a third slower.
    next: Vec<u32>,
    /// Per state, the range of `outs` holding the literals that end there.
    out: Vec<(u32, u32)>,
    outs: Vec<u32>,
    /// False if the table was too large for its offsets (rules far beyond any real set): the
    /// walks then end early, and scans report themselves incomplete.
    pub(super) complete: bool,
}

/// The bytes `\s` matches.
pub(super) const SPACES: [u8; 6] = [b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r'];

pub(super) fn is_space(b: u8) -> bool {
    SPACES.contains(&b)
}

/// Set in a transition's target when literals end at that state.
const HAS_OUTPUT: u32 = 1 << 31;

impl WordTrie {
    pub(super) fn build(literals: &[(&[u8], u32)]) -> WordTrie {
        let mut classes = [0u8; 256];
        let mut n = 1usize;
        for (lit, _) in literals {
            for &b in lit.iter() {
                let b = b.to_ascii_lowercase();
                if classes[usize::from(b)] == 0 {
                    // At most 256 distinct bytes, and upper-case letters share their class.
                    let c = u8::try_from(n).unwrap_or(u8::MAX);
                    // All whitespace is one class: see the self-loops below.
                    let same: &[u8] = if is_space(b) {
                        &SPACES
                    } else {
                        &[b, b.to_ascii_uppercase()]
                    };
                    for &x in same {
                        classes[usize::from(x)] = c;
                    }
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
            // A run of whitespace in a literal is one step: each whitespace step takes a run
            // (below), and a literal with two in a row would give the state after the first a
            // whitespace child, taking away its loop, so that a run of two would no longer
            // reach the other literals through it ("set  aside" would hide "set aside").
            let mut after_space = false;
            for &b in lit {
                if std::mem::replace(&mut after_space, is_space(b)) && is_space(b) {
                    continue;
                }
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
        // Whitespace in a literal ("turn off") stands for any run of it, as `\s+` does in the
        // patterns: "turn  off" or "turn\noff" must not slip past the anchor. A state reached by
        // whitespace stays there on more. Where a literal ends at such a state ("type "), more
        // whitespace moves to a twin without the output, so that the literal is reported once
        // and the longer ones ("type of the ai") still match after a run.
        let space = classes[usize::from(b' ')];
        if space != 0 {
            for &old in &order {
                for &(class, child) in &children[old] {
                    let state = number[child] as usize;
                    let slot = state * stride + usize::from(space);
                    if class != space || next[slot] != DEAD {
                        continue;
                    }
                    if ends[child].is_empty() {
                        next[slot] = number[child];
                    } else {
                        let twin = out.len();
                        let row: Vec<u32> = next[state * stride..(state + 1) * stride].to_vec();
                        next.extend(row);
                        let twin_id = u32::try_from(twin).unwrap_or(DEAD);
                        next[twin * stride + usize::from(space)] = twin_id;
                        next[slot] = twin_id;
                        out.push((0, 0));
                    }
                }
            }
        }
        // Targets become the starts of their rows (see `next`).
        let complete = u32::try_from(out.len() * stride).is_ok_and(|n| n < HAS_OUTPUT);
        for t in &mut next {
            *t = if complete {
                ((*t & !HAS_OUTPUT) as usize * stride) as u32 | (*t & HAS_OUTPUT)
            } else {
                DEAD
            };
        }
        WordTrie {
            classes,
            stride,
            next,
            out,
            outs,
            complete,
        }
    }

    /// Reports every literal that starts at `at`.
    #[inline]
    pub(super) fn walk(&self, hay: &[u8], at: usize, f: &mut impl FnMut(usize, usize, usize)) {
        let mut row = ROOT as usize * self.stride;
        for (i, &b) in hay.iter().enumerate().skip(at) {
            let class = usize::from(self.classes[usize::from(b)]);
            // Every state has a full row of `stride` classes: the lookup never misses.
            let next = self.next.get(row + class).copied().unwrap_or(DEAD);
            if next == DEAD {
                return;
            }
            let i = i + 1;
            row = (next & !HAS_OUTPUT) as usize;
            if next & HAS_OUTPUT != 0 {
                let (lo, hi) = self.out.get(row / self.stride).copied().unwrap_or((0, 0));
                for &lit in self.outs.get(lo as usize..hi as usize).unwrap_or_default() {
                    f(at, i, lit as usize);
                }
            }
        }
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.next.len() * 4 + self.out.len() * 8 + self.outs.len() * 4
    }
}
