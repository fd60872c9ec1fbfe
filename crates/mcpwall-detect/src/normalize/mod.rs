//! Normalisation: a copy of the text that rules can match reliably, and a map back to the original.
//!
//! The original text is what gets forwarded; the copy only feeds the matchers. The copy is the
//! compatibility decomposition of the text with combining marks dropped, homoglyphs folded to the
//! ASCII letters they imitate, invisible and bidirectional controls removed, tag characters
//! decoded to the ASCII they shadow, terminal escape sequences removed, and Unicode spaces turned
//! into ASCII spaces. Each transformation that hides something from a human reader is recorded as
//! a [`Signal`].
//!
//! Plain printable ASCII (the common case) is not copied at all.

mod chars;
mod confusables;

use std::borrow::Cow;
use std::ops::Range;

use chars::{Class, classify, is_styled, variation_selector_byte};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A hiding technique seen while normalising.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SignalKind {
    ZeroWidth,
    Bidi,
    TagCharacters,
    VariationSelectors,
    AnsiEscape,
    ControlCharacters,
    MixedScript,
    StyledText,
    CombiningMarks,
}

impl SignalKind {
    pub(crate) const ALL: [SignalKind; 9] = [
        SignalKind::ZeroWidth,
        SignalKind::Bidi,
        SignalKind::TagCharacters,
        SignalKind::VariationSelectors,
        SignalKind::AnsiEscape,
        SignalKind::ControlCharacters,
        SignalKind::MixedScript,
        SignalKind::StyledText,
        SignalKind::CombiningMarks,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            SignalKind::ZeroWidth => "zero_width",
            SignalKind::Bidi => "bidi",
            SignalKind::TagCharacters => "tag_characters",
            SignalKind::VariationSelectors => "variation_selectors",
            SignalKind::AnsiEscape => "ansi_escape",
            SignalKind::ControlCharacters => "control_characters",
            SignalKind::MixedScript => "mixed_script",
            SignalKind::StyledText => "styled_text",
            SignalKind::CombiningMarks => "combining_marks",
        }
    }
}

/// One occurrence (or a run of adjacent occurrences) of a hiding technique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signal {
    pub(crate) kind: SignalKind,
    /// Byte range in the original text.
    pub(crate) span: Range<usize>,
    /// How many characters (or sequences) the run holds.
    pub(crate) count: usize,
}

/// Bytes smuggled in a run of variation selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Smuggled {
    pub(crate) span: Range<usize>,
    pub(crate) bytes: Vec<u8>,
}

/// What normalising one text produced besides the copy itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct NormInfo {
    /// The copy is byte-for-byte the original.
    pub(crate) identity: bool,
    /// `(normalised offset, original offset)` at unit boundaries, at least every
    /// [`CHECKPOINT_EVERY`] normalised bytes and every [`CHECKPOINT_EVERY`] original bytes
    /// (a long run of dropped characters produces no normalised bytes, and each span mapped
    /// past it would walk all of it); offsets are relative to the text's own start.
    checkpoints: Vec<(usize, usize)>,
    pub(crate) signals: Vec<Signal>,
    pub(crate) smuggled: Vec<Smuggled>,
}

const CHECKPOINT_EVERY: usize = 128;
/// Runs of variation selectors shorter than this are ordinary emoji presentation.
const MIN_SMUGGLED_RUN: usize = 4;
/// Runs of styled letters shorter than this are decoration, not concealment.
const MIN_STYLED_RUN: usize = 4;
/// Combining marks on one base character above this are "zalgo" text.
const MAX_PLAIN_MARKS: u32 = 3;

impl NormInfo {
    /// Maps a byte range of the normalised copy (of length `norm_len`) of `original` to the
    /// smallest range of `original` that produced it. Out-of-range input is clamped.
    pub(crate) fn original_span(
        &self,
        original: &str,
        norm_len: usize,
        range: Range<usize>,
    ) -> Range<usize> {
        if self.identity {
            let len = original.len();
            return range.start.min(len)..range.end.min(len);
        }
        let (start, end) = (range.start.min(norm_len), range.end.min(norm_len));
        let s = self.map_start(original, start);
        let e = if end <= start {
            s
        } else {
            self.map_end(original, end)
        };
        s..e.max(s)
    }

    fn checkpoint_before(&self, x: usize) -> (usize, usize) {
        let idx = self.checkpoints.partition_point(|&(n, _)| n <= x);
        if idx == 0 {
            (0, 0)
        } else {
            self.checkpoints[idx - 1]
        }
    }

    /// Original offset of the unit that produced normalised byte `x` (or the end of the text).
    fn map_start(&self, original: &str, x: usize) -> usize {
        let (mut n, mut o) = self.checkpoint_before(x);
        let mut cache = FoldCache::default();
        while o < original.len() {
            let mut counter = Counter(0);
            let (next, _) = unit(original, o, &mut counter, &mut cache);
            if counter.0 > 0 && n + counter.0 > x {
                return o;
            }
            n += counter.0;
            o = next;
        }
        original.len()
    }

    /// Original offset just after the unit that produced normalised byte `x - 1`.
    fn map_end(&self, original: &str, x: usize) -> usize {
        let target = x - 1;
        let (mut n, mut o) = self.checkpoint_before(target);
        let mut cache = FoldCache::default();
        while o < original.len() {
            let mut counter = Counter(0);
            let (next, _) = unit(original, o, &mut counter, &mut cache);
            if counter.0 > 0 && n + counter.0 > target {
                return next;
            }
            n += counter.0;
            o = next;
        }
        original.len()
    }
}

/// The normalised copy of a text.
#[derive(Debug)]
pub struct Normalized<'a> {
    original: &'a str,
    text: Cow<'a, str>,
    pub(crate) info: NormInfo,
}

impl<'a> Normalized<'a> {
    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the normalised text is the original, unchanged.
    pub fn is_identity(&self) -> bool {
        self.info.identity
    }

    /// Maps a byte range of the normalised text to the smallest range of the original text that
    /// produced it. Out-of-range input is clamped.
    pub fn original_span(&self, range: Range<usize>) -> Range<usize> {
        self.info
            .original_span(self.original, self.text.len(), range)
    }

    pub(crate) fn into_parts(self) -> (Cow<'a, str>, NormInfo) {
        (self.text, self.info)
    }

    /// Names of the hiding techniques seen, one per run, in order.
    pub fn signal_names(&self) -> Vec<&'static str> {
        self.info.signals.iter().map(|s| s.kind.name()).collect()
    }
}

/// Where normalised output goes: the copy itself, or a byte counter when re-walking the text to
/// map an offset back.
trait Sink {
    fn byte(&mut self, b: u8);
    fn ch(&mut self, c: char);
}

impl Sink for String {
    fn byte(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn ch(&mut self, c: char) {
        self.push(c);
    }
}

/// What folding one character produced, held for [`FoldCache`]; `full` when it did not fit.
#[derive(Clone, Copy)]
struct Folded {
    c: char,
    len: u8,
    full: bool,
    chars: [char; 4],
    unit: Unit,
}

impl Folded {
    /// Nothing yet produced for `c`. For U+0000, never folded, a slot that matches no character.
    fn empty(c: char) -> Folded {
        Folded {
            c,
            len: 0,
            full: false,
            chars: ['\0'; 4],
            unit: Unit::Tag,
        }
    }
}

impl Sink for Folded {
    fn byte(&mut self, b: u8) {
        self.ch(char::from(b));
    }
    fn ch(&mut self, c: char) {
        match self.chars.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = c;
                self.len += 1;
            }
            None => self.full = true,
        }
    }
}

const FOLD_SLOTS: usize = 128;

/// Characters folded before [`FoldCache`] allocates its slots: a text with a few accented
/// letters does not pay for them.
const FOLDS_BEFORE_CACHE: u32 = 32;

/// Recent results of [`fold`] by character. Text in one script repeats a few dozen characters,
/// and folding one (compatibility decomposition, marks, confusables, Unicode classes) costs a
/// few hundred instructions: two thirds of the time on text dense with Cyrillic or Greek.
#[derive(Default)]
struct FoldCache {
    folded: u32,
    slots: Option<Box<[Folded; FOLD_SLOTS]>>,
}

impl FoldCache {
    fn fold<S: Sink>(&mut self, c: char, out: &mut S) -> Unit {
        if self.slots.is_none() && self.folded < FOLDS_BEFORE_CACHE {
            self.folded += 1;
            return fold(c, out);
        }
        let slots = self
            .slots
            .get_or_insert_with(|| Box::new([Folded::empty('\0'); FOLD_SLOTS]));
        // Scripts sit in blocks of the same low bits (Cyrillic е U+0435, Greek ε U+03B5): a
        // multiplicative hash spreads them over pairs of slots, and a character may sit in
        // either slot of its pair, so that two frequent letters sharing a pair do not evict
        // each other at every turn.
        let pair = ((c as u32).wrapping_mul(0x9E37_79B1) >> 26) as usize * 2;
        let k = if slots[pair].c == c {
            pair
        } else if slots[pair + 1].c == c {
            pair + 1
        } else {
            let mut f = Folded::empty(c);
            f.unit = fold(c, &mut f);
            if f.full {
                return fold(c, out);
            }
            // The newer of the two moves to the second slot; the older is evicted.
            slots[pair + 1] = slots[pair];
            slots[pair] = f;
            pair
        };
        let slot = &slots[k];
        for &d in &slot.chars[..usize::from(slot.len)] {
            out.ch(d);
        }
        slot.unit
    }
}

struct Counter(usize);

impl Sink for Counter {
    fn byte(&mut self, _: u8) {
        self.0 += 1;
    }
    fn ch(&mut self, c: char) {
        self.0 += c.len_utf8();
    }
}

/// What one unit of input (a character, or a whole escape sequence) became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Kept as is (ASCII or a plain non-ASCII character); `alnum` when it is part of a word,
    /// `latin` when it is an ASCII letter or digit.
    Kept { alnum: bool, latin: bool },
    /// Folded: decomposed, stripped of marks, or mapped from a homoglyph.
    Folded {
        alnum: bool,
        latin: bool,
        confusable: bool,
        styled: bool,
        marks: u32,
    },
    /// Removed, and why.
    Dropped(SignalKind),
    /// A tag character, decoded (or dropped when it shadows no printable ASCII).
    Tag,
    /// A variation selector, and the byte it would smuggle.
    VariationSelector(u8),
}

/// Whether a byte is its own normalised copy: printable ASCII, tab, line feed, carriage return.
// Comparisons without branches, so that `plain_prefix` compiles to vector instructions.
fn is_plain_byte(b: u8) -> bool {
    (b.wrapping_sub(0x20) < 0x5F) | (b == b'\t') | (b == b'\n') | (b == b'\r')
}

/// How many bytes at the start of `bytes` are plain (see [`is_plain_byte`]).
fn plain_prefix(bytes: &[u8]) -> usize {
    // The first chunk byte by byte: in text of another script most runs are a space or two.
    // Then whole chunks, each checked without a branch per byte; a byte-by-byte search (some
    // 9 instructions a byte) only in the chunk that holds the first other byte.
    const CHUNK: usize = 32;
    let head = bytes.len().min(CHUNK);
    if let Some(p) = bytes[..head].iter().position(|&b| !is_plain_byte(b)) {
        return p;
    }
    let mut done = head;
    for chunk in bytes[head..].chunks_exact(CHUNK) {
        if !chunk.iter().fold(true, |all, &b| all & is_plain_byte(b)) {
            break;
        }
        done += CHUNK;
    }
    done + bytes[done..]
        .iter()
        .position(|&b| !is_plain_byte(b))
        .unwrap_or(bytes.len() - done)
}

/// Whether a text can be used as its own normalised copy.
fn is_plain(text: &str) -> bool {
    plain_prefix(text.as_bytes()) == text.len()
}

/// Normalises `text` (see the module documentation).
pub fn normalize(text: &str) -> Normalized<'_> {
    if is_plain(text) {
        return Normalized {
            original: text,
            text: Cow::Borrowed(text),
            info: NormInfo {
                identity: true,
                ..NormInfo::default()
            },
        };
    }
    let mut out = String::with_capacity(text.len());
    let info = normalize_into(text, &mut out);
    Normalized {
        original: text,
        text: Cow::Owned(out),
        info,
    }
}

/// Appends the normalised copy of `text` to `out`.
pub(crate) fn normalize_into(text: &str, out: &mut String) -> NormInfo {
    if is_plain(text) {
        out.push_str(text);
        return NormInfo {
            identity: true,
            ..NormInfo::default()
        };
    }
    let base = out.len();
    let mut checkpoints = Vec::with_capacity(text.len() / CHECKPOINT_EVERY + 1);
    let mut signals = Signals::default();
    let mut smuggled: Vec<Smuggled> = Vec::new();
    let mut vs_run: Option<Smuggled> = None;
    let mut word = Word::default();
    let mut cache = FoldCache::default();
    let mut mark_run: Option<Range<usize>> = None;
    let mut marks_in_run = 0u32;
    let mut last_cp = 0usize;
    let mut last_cp_orig = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0usize;
    while i < text.len() {
        let produced = out.len() - base;
        // A run of printable ASCII (most of almost any text) is its own copy: taken at once,
        // with the checkpoints and word tracking each of its bytes would have made alone.
        let run = plain_prefix(&bytes[i..]);
        if run > 0 {
            flush_vs(&mut vs_run, &mut smuggled, &mut signals);
            flush_marks(&mut mark_run, &mut marks_in_run, &mut signals);
            loop {
                let at = (last_cp + CHECKPOINT_EVERY).max(produced);
                if at >= produced + run {
                    break;
                }
                checkpoints.push((at, i + (at - produced)));
                last_cp = at;
                last_cp_orig = i + (at - produced);
            }
            word.step_ascii_run(&bytes[i..i + run], i, &mut signals);
            out.push_str(&text[i..i + run]);
            i += run;
            continue;
        }
        if produced - last_cp >= CHECKPOINT_EVERY || i - last_cp_orig >= CHECKPOINT_EVERY {
            checkpoints.push((produced, i));
            last_cp = produced;
            last_cp_orig = i;
        }
        let (mut next, u) = unit(text, i, out, &mut cache);
        if matches!(u, Unit::Kept { alnum: true, .. }) && bytes[i] >= 0x80 {
            // A character of a script copied unchanged (CJK, Hangul, kana): the ones after it
            // go in with it as one unit (bounded, so that checkpoints stay close), which leaves
            // the copy, the word and the signals as one unit each would.
            let start = next;
            let limit = (i + CHECKPOINT_EVERY).min(text.len());
            while next < limit {
                match text[next..].chars().next() {
                    Some(c) if c as u32 >= 0x80 && classify(c) == Class::Plain => {
                        next += c.len_utf8();
                    }
                    _ => break,
                }
            }
            out.push_str(&text[start..next]);
        }
        if !matches!(u, Unit::Folded { marks: 1.., .. }) || out.len() - base != produced {
            flush_marks(&mut mark_run, &mut marks_in_run, &mut signals);
        }
        match u {
            Unit::VariationSelector(b) => {
                let run = vs_run.get_or_insert_with(|| Smuggled {
                    span: i..next,
                    bytes: Vec::new(),
                });
                run.span.end = next;
                run.bytes.push(b);
            }
            _ if vs_run.is_some() => flush_vs(&mut vs_run, &mut smuggled, &mut signals),
            _ => {}
        }
        match u {
            Unit::Kept { alnum, latin } => {
                word.step(alnum, latin, false, false, i, next, &mut signals);
            }
            Unit::Folded {
                alnum,
                latin,
                confusable,
                styled,
                marks,
            } => {
                if out.len() - base == produced && marks > 0 {
                    // A lone combining mark: stacked marks ("zalgo") bury text in noise.
                    let run = mark_run.get_or_insert(i..next);
                    run.end = next;
                    marks_in_run += marks;
                    i = next;
                    continue;
                }
                if marks > MAX_PLAIN_MARKS {
                    signals.add(SignalKind::CombiningMarks, i..next, marks as usize);
                }
                word.step(alnum, latin, confusable, styled, i, next, &mut signals);
            }
            Unit::Dropped(kind) => {
                signals.add(kind, i..next, 1);
                // Invisible characters inside a word do not split it: "ig\u{200B}nore" is one word.
                if !matches!(kind, SignalKind::ZeroWidth | SignalKind::Bidi) {
                    word.end(&mut signals);
                }
            }
            Unit::Tag => signals.add(SignalKind::TagCharacters, i..next, 1),
            Unit::VariationSelector(_) => {}
        }
        i = next;
    }
    flush_vs(&mut vs_run, &mut smuggled, &mut signals);
    flush_marks(&mut mark_run, &mut marks_in_run, &mut signals);
    word.end(&mut signals);
    let mut signals = signals.0;
    // Emoji flag sequences (black flag + lowercase tags + cancel tag) use tag characters
    // legitimately: keep only runs that could spell something.
    signals.retain(|s| {
        !(s.kind == SignalKind::TagCharacters && is_emoji_tag_run(&text[s.span.clone()]))
    });
    NormInfo {
        identity: false,
        checkpoints,
        signals,
        smuggled,
    }
}

fn flush_vs(run: &mut Option<Smuggled>, smuggled: &mut Vec<Smuggled>, signals: &mut Signals) {
    if let Some(r) = run.take()
        && r.bytes.len() >= MIN_SMUGGLED_RUN
    {
        signals.add(
            SignalKind::VariationSelectors,
            r.span.clone(),
            r.bytes.len(),
        );
        smuggled.push(r);
    }
}

fn flush_marks(run: &mut Option<Range<usize>>, count: &mut u32, signals: &mut Signals) {
    if let Some(r) = run.take()
        && *count > MAX_PLAIN_MARKS
    {
        signals.add(SignalKind::CombiningMarks, r, *count as usize);
    }
    *count = 0;
}

fn is_emoji_tag_run(run: &str) -> bool {
    let tags: Vec<u32> = run.chars().map(|c| c as u32).collect();
    tags.len() <= 8
        && tags.last() == Some(&0xE007F)
        && tags[..tags.len() - 1]
            .iter()
            .all(|&t| (0xE0061..=0xE007A).contains(&t) || (0xE0030..=0xE0039).contains(&t))
}

/// Signals, merging adjacent occurrences of one kind into a run.
#[derive(Default)]
struct Signals(Vec<Signal>);

impl Signals {
    fn add(&mut self, kind: SignalKind, span: Range<usize>, count: usize) {
        if let Some(last) = self
            .0
            .iter_mut()
            .rev()
            .take(4)
            .find(|s| s.kind == kind && s.span.end == span.start)
        {
            last.span.end = span.end;
            last.count += count;
            return;
        }
        self.0.push(Signal { kind, span, count });
    }
}

/// Tracks the current word to spot mixed-script words ("іgnore" with a Cyrillic і) and runs
/// of styled letters.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, Debug, PartialEq))]
struct Word {
    start: Option<usize>,
    end: usize,
    ascii: bool,
    confusable: bool,
    styled: usize,
}

impl Word {
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        alnum: bool,
        latin: bool,
        confusable: bool,
        styled: bool,
        start: usize,
        end: usize,
        signals: &mut Signals,
    ) {
        if !alnum {
            self.end(signals);
            return;
        }
        if self.start.is_none() {
            self.start = Some(start);
        }
        self.end = end;
        if confusable {
            self.confusable = true;
        } else if latin && !styled {
            self.ascii = true;
        }
        if styled {
            self.styled += 1;
        }
    }

    /// [`Word::step`] for a plain ASCII byte at `at`: the plain form of [`Word::step_ascii_run`].
    #[cfg(test)]
    fn step_ascii(&mut self, b: u8, at: usize, signals: &mut Signals) {
        let latin = b.is_ascii_alphanumeric();
        if !latin && b != b'_' {
            self.end(signals);
            return;
        }
        if self.start.is_none() {
            self.start = Some(at);
        }
        self.end = at + 1;
        self.ascii |= latin;
    }

    /// [`Word::step_ascii`] for each byte of a run of plain ASCII starting at `at`. Only the
    /// words at the run's two edges can hold anything but ASCII: the words inside it are
    /// skipped.
    fn step_ascii_run(&mut self, run: &[u8], at: usize, signals: &mut Signals) {
        let in_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        let Some(first_gap) = run.iter().position(|b| !in_word(b)) else {
            self.extend(run, at);
            return;
        };
        self.extend(&run[..first_gap], at);
        self.end(signals);
        let last_gap = run.iter().rposition(|b| !in_word(b)).unwrap_or(first_gap);
        self.extend(&run[last_gap + 1..], at + last_gap + 1);
    }

    /// Word bytes (ASCII letters, digits, `_`) at `at` continue the current word.
    fn extend(&mut self, bytes: &[u8], at: usize) {
        if bytes.is_empty() {
            return;
        }
        if self.start.is_none() {
            self.start = Some(at);
        }
        self.end = at + bytes.len();
        self.ascii |= bytes.iter().any(u8::is_ascii_alphanumeric);
    }

    fn end(&mut self, signals: &mut Signals) {
        if let Some(start) = self.start.take() {
            if self.ascii && self.confusable {
                signals.add(SignalKind::MixedScript, start..self.end, 1);
            }
            if self.styled >= MIN_STYLED_RUN {
                signals.add(SignalKind::StyledText, start..self.end, self.styled);
            }
        }
        self.end = 0;
        self.ascii = false;
        self.confusable = false;
        self.styled = 0;
    }
}

/// Normalises the unit starting at byte `i` (a character boundary) into `out`; returns where the
/// next unit starts and what this one became.
fn unit<S: Sink>(text: &str, i: usize, out: &mut S, cache: &mut FoldCache) -> (usize, Unit) {
    let bytes = text.as_bytes();
    let b = bytes[i];
    if b < 0x80 {
        return match b {
            0x1B => (ansi_end(bytes, i), Unit::Dropped(SignalKind::AnsiEscape)),
            b'\t' | b'\n' | b'\r' | 0x20..=0x7E => {
                out.byte(b);
                (
                    i + 1,
                    Unit::Kept {
                        alnum: b.is_ascii_alphanumeric() || b == b'_',
                        latin: b.is_ascii_alphanumeric(),
                    },
                )
            }
            0x0B | 0x0C => {
                out.byte(b' ');
                (
                    i + 1,
                    Unit::Kept {
                        alnum: false,
                        latin: false,
                    },
                )
            }
            _ => (i + 1, Unit::Dropped(SignalKind::ControlCharacters)),
        };
    }
    let Some(c) = text[i..].chars().next() else {
        return (
            text.len(),
            Unit::Kept {
                alnum: false,
                latin: false,
            },
        );
    };
    let next = i + c.len_utf8();
    let u = match classify(c) {
        Class::Control => Unit::Dropped(SignalKind::ControlCharacters),
        Class::Space => {
            out.byte(b' ');
            Unit::Kept {
                alnum: false,
                latin: false,
            }
        }
        Class::LineBreak => {
            out.byte(b'\n');
            Unit::Kept {
                alnum: false,
                latin: false,
            }
        }
        Class::ZeroWidth => Unit::Dropped(SignalKind::ZeroWidth),
        Class::Bidi => Unit::Dropped(SignalKind::Bidi),
        Class::VariationSelector => {
            Unit::VariationSelector(variation_selector_byte(c).unwrap_or_default())
        }
        Class::Tag => {
            let shadow = (c as u32) - 0xE0000;
            if let Ok(a) = u8::try_from(shadow)
                && (0x20..0x7F).contains(&a)
            {
                out.byte(a);
            }
            Unit::Tag
        }
        Class::Plain => {
            out.ch(c);
            Unit::Kept {
                alnum: true,
                latin: false,
            }
        }
        Class::Fold => cache.fold(c, out),
    };
    (next, u)
}

fn fold<S: Sink>(c: char, out: &mut S) -> Unit {
    let mut alnum = false;
    let mut latin = false;
    let mut confusable = false;
    let mut marks = 0u32;
    let mut first = true;
    decompose_compatible(c, |d| {
        let produced_alnum;
        if d.is_ascii() {
            let b = d as u8;
            match b {
                b'\t' | b'\n' | b'\r' | 0x20..=0x7E => out.byte(b),
                _ => {}
            }
            produced_alnum = b.is_ascii_alphanumeric();
            latin |= produced_alnum;
        } else if is_combining_mark(d) {
            marks += 1;
            return;
        } else if let Some(a) = confusable_ascii(d) {
            out.byte(a);
            // Turkish and Azerbaijani write the dotless ı among Latin letters: folded to `i`
            // like any look-alike, but no sign of a mixed word.
            confusable |= d != '\u{0131}';
            produced_alnum = true;
        } else {
            match classify(d) {
                Class::Space => out.byte(b' '),
                Class::LineBreak => out.byte(b'\n'),
                Class::ZeroWidth
                | Class::Bidi
                | Class::Control
                | Class::Tag
                | Class::VariationSelector => {}
                Class::Plain | Class::Fold => out.ch(d),
            }
            produced_alnum = d.is_alphanumeric();
        }
        if first {
            alnum = produced_alnum;
            first = false;
        }
    });
    Unit::Folded {
        alnum: alnum || (first && marks > 0 && c.is_alphanumeric()),
        latin,
        confusable,
        styled: is_styled(c),
        marks,
    }
}

fn confusable_ascii(c: char) -> Option<u8> {
    let find = |table: &[(char, u8)]| {
        table
            .binary_search_by_key(&c, |&(k, _)| k)
            .ok()
            .map(|i| table[i].1)
    };
    find(confusables::CONFUSABLES).or_else(|| find(SMALL_CAPITALS))
}

/// Latin small capitals (`ɪɢɴᴏʀᴇ`): letters a reader takes for lower-case ones, which
/// `confusables.txt` does not map to them (its skeletons keep most of them apart). Sorted by
/// code point.
static SMALL_CAPITALS: &[(char, u8)] = &[
    ('\u{0262}', b'g'),
    ('\u{026A}', b'i'),
    ('\u{0274}', b'n'),
    ('\u{0276}', b'e'),
    ('\u{0280}', b'r'),
    ('\u{028F}', b'y'),
    ('\u{0299}', b'b'),
    ('\u{029C}', b'h'),
    ('\u{029F}', b'l'),
    ('\u{1D00}', b'a'),
    ('\u{1D04}', b'c'),
    ('\u{1D05}', b'd'),
    ('\u{1D07}', b'e'),
    ('\u{1D0A}', b'j'),
    ('\u{1D0B}', b'k'),
    ('\u{1D0D}', b'm'),
    ('\u{1D0F}', b'o'),
    ('\u{1D18}', b'p'),
    ('\u{1D1B}', b't'),
    ('\u{1D1C}', b'u'),
    ('\u{1D20}', b'v'),
    ('\u{1D21}', b'w'),
    ('\u{1D22}', b'z'),
    ('\u{A730}', b'f'),
    ('\u{A731}', b's'),
    ('\u{A7AF}', b'q'),
];

/// End of the terminal escape sequence starting with ESC at `i`. Only ASCII bytes are consumed,
/// so the result is a character boundary.
fn ansi_end(b: &[u8], i: usize) -> usize {
    const MAX_CSI: usize = 256;
    const MAX_STRING: usize = 8192;
    let j = i + 1;
    let Some(&intro) = b.get(j) else { return j };
    match intro {
        b'[' => {
            let mut k = j + 1;
            while k < b.len() && k - j < MAX_CSI && (0x30..=0x3F).contains(&b[k]) {
                k += 1;
            }
            while k < b.len() && k - j < MAX_CSI && (0x20..=0x2F).contains(&b[k]) {
                k += 1;
            }
            match b.get(k) {
                Some(0x40..=0x7E) => k + 1,
                _ => j + 1,
            }
        }
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \).
        b']' | b'P' | b'X' | b'^' | b'_' => {
            let mut k = j + 1;
            while k < b.len() && k - j < MAX_STRING {
                match b[k] {
                    0x07 => return k + 1,
                    0x1B if b.get(k + 1) == Some(&b'\\') => return k + 2,
                    0x1B => break,
                    _ => k += 1,
                }
            }
            j + 1
        }
        // nF sequences: intermediates then a final byte (character-set designation and the like).
        0x20..=0x2F => {
            let mut k = j;
            while k < b.len() && (0x20..=0x2F).contains(&b[k]) {
                k += 1;
            }
            match b.get(k) {
                Some(0x30..=0x7E) => k + 1,
                _ => j,
            }
        }
        0x30..=0x7E => j + 1,
        _ => j,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_fold_cache_gives_what_folding_gives() {
        // Letters of several scripts (many share a pair of slots), decompositions longer than a
        // slot holds, and repeats in an order that evicts.
        let chars: Vec<char> = "еεÜßäöΞάαβСабвгёﬃ℡㎒ǅﷺ①Ⅻ𝐀ﬁ"
            .chars()
            .chain((0x400..0x460).filter_map(char::from_u32))
            .chain((0x370..0x3D0).filter_map(char::from_u32))
            .collect();
        let mut cache = FoldCache::default();
        for round in 0..3 {
            for (k, &c) in chars.iter().enumerate() {
                let c = if round == 1 {
                    chars[chars.len() - 1 - k]
                } else {
                    c
                };
                let (mut want, mut got) = (String::new(), String::new());
                let unit = fold(c, &mut want);
                assert_eq!(cache.fold(c, &mut got), unit, "{c:?}");
                assert_eq!(got, want, "{c:?}");
            }
        }
    }

    fn kinds(n: &Normalized<'_>) -> Vec<SignalKind> {
        n.info.signals.iter().map(|s| s.kind).collect()
    }

    proptest! {
        /// A run of plain ASCII taken at once leaves the word and the signals as byte by byte.
        #[test]
        fn ascii_runs_step_words_as_their_bytes_do(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z_ .,-]{0,12}".prop_map(Ok),
                    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(Err),
                ],
                0..12,
            ),
        ) {
            let (mut whole, mut bytewise) = (Word::default(), Word::default());
            let (mut sw, mut sb) = (Signals::default(), Signals::default());
            let mut at = 0;
            for p in parts {
                match p {
                    Ok(run) => {
                        whole.step_ascii_run(run.as_bytes(), at, &mut sw);
                        for (k, &b) in run.as_bytes().iter().enumerate() {
                            bytewise.step_ascii(b, at + k, &mut sb);
                        }
                        at += run.len();
                    }
                    Err((alnum, latin, confusable, styled)) => {
                        whole.step(alnum, latin, confusable, styled, at, at + 2, &mut sw);
                        bytewise.step(alnum, latin, confusable, styled, at, at + 2, &mut sb);
                        at += 2;
                    }
                }
                prop_assert_eq!(&whole, &bytewise);
                prop_assert_eq!(&sw.0, &sb.0);
            }
        }
    }

    #[test]
    fn plain_prefix_stops_at_the_first_other_byte() {
        for bad in [0x00u8, 0x0b, 0x1b, 0x1f, 0x7f, 0x80, 0xe2, 0xff] {
            for len in 0..80 {
                let mut bytes: Vec<u8> = (0..len).map(|k| b" ~\t\n\rAz09"[k % 9]).collect();
                assert_eq!(plain_prefix(&bytes), len);
                for at in 0..len {
                    let keep = bytes[at];
                    bytes[at] = bad;
                    assert_eq!(plain_prefix(&bytes), at, "{bad:#x} at {at} of {len}");
                    bytes[at] = keep;
                }
            }
        }
    }

    #[test]
    fn plain_ascii_is_borrowed() {
        let n = normalize("Ignore previous\tinstructions.\n");
        assert!(n.is_identity());
        assert_eq!(n.original_span(0..6), 0..6);
    }

    #[test]
    fn zero_width_is_removed_and_mapped_back() {
        let s = "ig\u{200B}nore this";
        let n = normalize(s);
        assert_eq!(n.as_str(), "ignore this");
        assert_eq!(kinds(&n), vec![SignalKind::ZeroWidth]);
        let span = n.original_span(0..6);
        assert_eq!(&s[span], "ig\u{200B}nore");
        assert_eq!(&s[n.original_span(7..11)], "this");
    }

    #[test]
    fn small_capitals_fold_and_dotless_i_is_no_homoglyph() {
        let n = normalize("\u{26A}\u{262}\u{274}\u{1D0F}\u{280}\u{1D07} \u{1D00}\u{29F}\u{29F}");
        assert_eq!(n.as_str(), "ignore all");
        assert!(SMALL_CAPITALS.windows(2).all(|w| w[0].0 < w[1].0));
        // Turkish: folded, not flagged.
        let n = normalize("Dosyay\u{131} okur");
        assert_eq!(n.as_str(), "Dosyayi okur");
        assert!(
            !kinds(&n).contains(&SignalKind::MixedScript),
            "{:?}",
            kinds(&n)
        );
    }

    #[test]
    fn homoglyphs_fold_and_are_flagged() {
        // Cyrillic і, о and е in an otherwise Latin word.
        let s = "please \u{0456}gn\u{043E}r\u{0435} rules";
        let n = normalize(s);
        assert_eq!(n.as_str(), "please ignore rules");
        assert_eq!(kinds(&n), vec![SignalKind::MixedScript]);
        let sig = &n.info.signals[0];
        assert_eq!(&s[sig.span.clone()], "\u{0456}gn\u{043E}r\u{0435}");
        assert_eq!(&s[n.original_span(7..13)], "\u{0456}gn\u{043E}r\u{0435}");
    }

    #[test]
    fn styled_letters_decompose() {
        let n = normalize("𝐢𝐠𝐧𝐨𝐫𝐞 ｐｒｅｖｉｏｕｓ");
        assert_eq!(n.as_str(), "ignore previous");
        assert!(kinds(&n).contains(&SignalKind::StyledText));
    }

    #[test]
    fn accents_are_stripped_without_signal() {
        let n = normalize("café naïve résumé");
        assert_eq!(n.as_str(), "cafe naive resume");
        assert!(n.info.signals.is_empty());
    }

    #[test]
    fn tag_characters_decode() {
        let hidden: String = "run rm"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let s = format!("ok{hidden}!");
        let n = normalize(&s);
        assert_eq!(n.as_str(), "okrun rm!");
        assert_eq!(kinds(&n), vec![SignalKind::TagCharacters]);
        let flag = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        assert!(normalize(flag).info.signals.is_empty());
    }

    #[test]
    fn ansi_sequences_are_removed() {
        let s = "a\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 b";
        let n = normalize(s);
        assert_eq!(n.as_str(), "ared link b");
        assert_eq!(kinds(&n), vec![SignalKind::AnsiEscape; 4]);
    }

    #[test]
    fn bidi_and_controls() {
        let n = normalize("abc\u{202E}def\u{0000}g");
        assert_eq!(n.as_str(), "abcdefg");
        assert_eq!(
            kinds(&n),
            vec![SignalKind::Bidi, SignalKind::ControlCharacters]
        );
    }

    #[test]
    fn variation_selectors_smuggle_bytes() {
        let payload = b"hi!!";
        let mut s = String::from("\u{1F600}");
        for &b in payload {
            let c = if b < 16 {
                char::from_u32(0xFE00 + u32::from(b))
            } else {
                char::from_u32(0xE0100 + u32::from(b) - 16)
            };
            s.push(c.unwrap());
        }
        let n = normalize(&s);
        assert_eq!(n.info.smuggled.len(), 1);
        assert_eq!(n.info.smuggled[0].bytes, payload);
        // A single emoji presentation selector is ordinary.
        assert!(normalize("\u{2764}\u{FE0F}").info.smuggled.is_empty());
    }

    #[test]
    fn unicode_spaces_become_ascii() {
        assert_eq!(
            normalize("a\u{00A0}b\u{3000}c\u{2028}d").as_str(),
            "a b c\nd"
        );
    }

    #[test]
    fn zalgo_is_flagged() {
        let n = normalize("h\u{0301}\u{0302}\u{0303}\u{0304}\u{0305}i");
        assert_eq!(n.as_str(), "hi");
        assert!(kinds(&n).contains(&SignalKind::CombiningMarks));
    }

    #[test]
    fn long_text_maps_through_checkpoints() {
        let mut s = String::new();
        for i in 0..500 {
            s.push_str(&format!("w{i}\u{200B} "));
        }
        s.push_str("TARGET");
        let n = normalize(&s);
        let at = n.as_str().find("TARGET").unwrap();
        assert_eq!(&s[n.original_span(at..at + 6)], "TARGET");
        // Past a long run of characters that produce nothing (checkpoints every 128 original
        // bytes too), around a character of it, and with text on both sides.
        for (before, after) in [
            ("", "TARGET"),
            ("ab ", "TARGET cd"),
            ("é", "TARGET\u{200B}x"),
        ] {
            let s = format!("{before}{}{after}", "\u{200B}".repeat(5_000));
            let n = normalize(&s);
            let at = n.as_str().find("TARGET").unwrap();
            assert_eq!(&s[n.original_span(at..at + 6)], "TARGET", "{before:?}");
            assert_eq!(n.original_span(0..n.as_str().len()).end, s.len());
        }
    }
}
