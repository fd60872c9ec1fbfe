//! Checks on a matched value: format validators with checksums, entropy, and placeholder
//! detection. They turn "looks like a card number" into "is a card number".

use base64::Engine as _;

/// Outcome of a format check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The value has the format's internal structure (checksum, decodable header...).
    Pass,
    /// The value cannot be of this format: drop the match.
    Fail,
    /// The value fails a check that a real value would pass, but the check might be
    /// incomplete: keep the match with reduced confidence (it is still redacted).
    Doubtful,
}

/// A named validator, as written in rule files (`validate = "luhn"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Validator {
    Luhn,
    Card,
    Iban,
    UsSsn,
    CaSin,
    Aadhaar,
    BrCpf,
    CnResidentId,
    UkNino,
    EsDni,
    Jwt,
    GithubChecksum,
    AwsKeyId,
    Discord,
    PypiMacaroon,
    Base64Key64,
    PublicIpv4,
    BasicAuth,
    /// Judges the key a value is assigned to (`csrf_token = ...` holds no credential); needs the
    /// whole match, so it goes through [`Validator::check_in`].
    TokenKey,
    /// The value holds a digit: random tokens of 16 characters or more almost always do, the
    /// identifiers and expressions that code assigns (`authorization.split`) seldom.
    HasDigit,
}

impl Validator {
    pub(crate) const NAMES: [&'static str; 20] = [
        "luhn",
        "card",
        "iban",
        "us_ssn",
        "ca_sin",
        "aadhaar",
        "br_cpf",
        "cn_resident_id",
        "uk_nino",
        "es_dni",
        "jwt",
        "github_checksum",
        "aws_key_id",
        "discord",
        "pypi_macaroon",
        "base64_key64",
        "public_ipv4",
        "basic_auth",
        "token_key",
        "has_digit",
    ];

    pub(crate) fn parse(name: &str) -> Option<Validator> {
        Some(match name {
            "luhn" => Validator::Luhn,
            "card" => Validator::Card,
            "iban" => Validator::Iban,
            "us_ssn" => Validator::UsSsn,
            "ca_sin" => Validator::CaSin,
            "aadhaar" => Validator::Aadhaar,
            "br_cpf" => Validator::BrCpf,
            "cn_resident_id" => Validator::CnResidentId,
            "uk_nino" => Validator::UkNino,
            "es_dni" => Validator::EsDni,
            "jwt" => Validator::Jwt,
            "github_checksum" => Validator::GithubChecksum,
            "aws_key_id" => Validator::AwsKeyId,
            "discord" => Validator::Discord,
            "pypi_macaroon" => Validator::PypiMacaroon,
            "base64_key64" => Validator::Base64Key64,
            "public_ipv4" => Validator::PublicIpv4,
            "basic_auth" => Validator::BasicAuth,
            "token_key" => Validator::TokenKey,
            "has_digit" => Validator::HasDigit,
            _ => return None,
        })
    }

    /// Checks a value in the context of the whole match it was captured from.
    /// `whole` is only computed for the validators that need it.
    pub(crate) fn check_in<'a>(self, value: &str, whole: impl FnOnce() -> &'a str) -> Check {
        match self {
            Validator::TokenKey => {
                if token_key(whole()) {
                    Check::Pass
                } else {
                    Check::Fail
                }
            }
            _ => self.check(value),
        }
    }

    pub(crate) fn check(self, value: &str) -> Check {
        let ok = match self {
            Validator::Luhn => luhn(&digits(value)),
            Validator::Card => card(&digits(value)),
            Validator::Iban => iban(value),
            Validator::UsSsn => us_ssn(&digits(value)),
            Validator::CaSin => {
                let d = digits(value);
                d.len() == 9 && !matches!(d[0], 0 | 8) && luhn(&d) && !all_same(&d)
            }
            Validator::Aadhaar => {
                let d = digits(value);
                d.len() == 12 && d[0] >= 2 && verhoeff(&d) && !all_same(&d)
            }
            Validator::BrCpf => br_cpf(&digits(value)),
            Validator::CnResidentId => cn_resident_id(value),
            Validator::UkNino => uk_nino(value),
            Validator::EsDni => es_dni(value),
            Validator::Jwt => jwt(value),
            Validator::GithubChecksum => return github_checksum(value),
            Validator::AwsKeyId => aws_key_id(value),
            Validator::Discord => discord(value),
            Validator::PypiMacaroon => pypi_macaroon(value),
            Validator::Base64Key64 => decode_b64(value).is_some_and(|b| b.len() == 64),
            Validator::PublicIpv4 => public_ipv4(value),
            Validator::BasicAuth => basic_auth(value),
            Validator::TokenKey => token_key(value),
            Validator::HasDigit => value.bytes().any(|b| b.is_ascii_digit()),
        };
        if ok { Check::Pass } else { Check::Fail }
    }
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn all_same(d: &[u8]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

pub(crate) fn luhn(d: &[u8]) -> bool {
    if d.len() < 2 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Luhn plus an issuer prefix and a length that the issuer uses.
fn card(d: &[u8]) -> bool {
    if !(13..=19).contains(&d.len()) || !luhn(d) || all_same(d) {
        return false;
    }
    let prefix = |n: usize| d[..n].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    let visa = d[0] == 4 && matches!(len, 13 | 16 | 19);
    let mastercard =
        len == 16 && ((51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)));
    let amex = len == 15 && matches!(prefix(2), 34 | 37);
    let discover = (16..=19).contains(&len)
        && (prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)));
    let jcb = (16..=19).contains(&len) && (3528..=3589).contains(&prefix(4));
    let diners = (14..=19).contains(&len)
        && ((300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39));
    let unionpay = (16..=19).contains(&len) && prefix(2) == 62;
    let maestro = (12..=19).contains(&len)
        && matches!(
            prefix(4),
            5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
        );
    visa || mastercard || amex || discover || jcb || diners || unionpay || maestro
}

/// ISO 13616 IBAN: country length and the mod-97 check.
fn iban(s: &str) -> bool {
    let v: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if v.len() < 15 || v.len() > 34 || !v.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let Some(expected) = iban_length(&v[..2]) else {
        return false;
    };
    if v.len() != expected || !v[2].is_ascii_digit() || !v[3].is_ascii_digit() {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in v[4..].iter().chain(&v[..4]) {
        let n = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if n >= 10 {
            (rem * 100 + n) % 97
        } else {
            (rem * 10 + n) % 97
        };
    }
    rem == 1
}

fn iban_length(cc: &[u8]) -> Option<usize> {
    // IBAN lengths by country (ISO 13616 registry).
    const TABLE: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    TABLE.iter().find(|(c, _)| &c[..] == cc).map(|&(_, n)| n)
}

/// US social security number: area not 000, 666 or 9xx; group not 00; serial not 0000; and not
/// one of the numbers famous for appearing in advertising.
fn us_ssn(d: &[u8]) -> bool {
    if d.len() != 9 || all_same(d) {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let whole = d.iter().fold(0u64, |a, &x| a * 10 + u64::from(x));
    // Each group one repeated digit (111-22-3333, 555-55-5555): a made-up example.
    let filler = all_same(&d[..3]) && all_same(&d[3..5]) && all_same(&d[5..]);
    !filler
        && area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && whole != 78_051_120
        && whole != 219_099_999
        && whole != 123_456_789
}

fn verhoeff(d: &[u8]) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = D[usize::from(c)][usize::from(P[i % 8][usize::from(x)])];
    }
    c == 0
}

fn br_cpf(d: &[u8]) -> bool {
    if d.len() != 11 || all_same(d) {
        return false;
    }
    let check = |n: usize| -> u8 {
        let sum: u32 = d[..n]
            .iter()
            .enumerate()
            .map(|(i, &x)| u32::from(x) * (n as u32 + 1 - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r as u8 }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Chinese resident identity card: 17 digits and an ISO 7064 MOD 11-2 check character.
fn cn_resident_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(&x, w)| u32::from(x - b'0') * w)
        .sum();
    let expected = b"10X98765432"[(sum % 11) as usize];
    let month = u32::from(b[10] - b'0') * 10 + u32::from(b[11] - b'0');
    b[17].to_ascii_uppercase() == expected && (1..=12).contains(&month)
}

fn uk_nino(s: &str) -> bool {
    let v: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if v.len() != 9 {
        return false;
    }
    let (a, b) = (v[0], v[1]);
    let bad_first = b"DFIQUV".contains(&a);
    let bad_second = b"DFIOQUV".contains(&b);
    let bad_pair = [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"]
        .iter()
        .any(|p| p[0] == a && p[1] == b);
    !bad_first
        && !bad_second
        && !bad_pair
        && v[2..8].iter().all(u8::is_ascii_digit)
        && b"ABCD".contains(&v[8])
}

fn es_dni(s: &str) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let v: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if v.len() != 9 {
        return false;
    }
    let mut number = 0u32;
    for (i, &c) in v[..8].iter().enumerate() {
        let d = match (i, c) {
            (0, b'X') => 0,
            (0, b'Y') => 1,
            (0, b'Z') => 2,
            (_, b'0'..=b'9') => u32::from(c - b'0'),
            _ => return false,
        };
        number = number * 10 + d;
    }
    LETTERS[(number % 23) as usize] == v[8]
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let t = s.trim();
    STANDARD
        .decode(t)
        .or_else(|_| STANDARD_NO_PAD.decode(t))
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .or_else(|_| URL_SAFE.decode(t))
        .ok()
}

fn b64_json_object(part: &str) -> bool {
    decode_b64(part)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.is_object())
}

/// A JSON Web Token: a header that decodes to a JSON object naming an algorithm or type, and a
/// payload that decodes to a JSON object; and a signature that is not text. A test's fixture
/// signs with words ("test-signature-not-real" in base64): a real signature is random bytes,
/// and 8 or more of them all printable has odds under one in 2,500.
fn jwt(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return false;
    };
    if let Some(sig) = parts.next().and_then(decode_b64)
        && sig.len() >= 8
        && sig.iter().all(|b| (0x20..0x7f).contains(b))
    {
        return false;
    }
    let header_ok = decode_b64(h)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            v.get("alg").is_some() || v.get("typ").is_some() || v.get("enc").is_some()
        });
    header_ok && b64_json_object(p)
}

/// GitHub's (and npm's) token format: 30 random base62 characters followed by their CRC32 in
/// six base62 digits. GitHub's alphabet puts upper case first; the other order is accepted too
/// because public descriptions disagree.
fn github_checksum(token: &str) -> Check {
    let Some((_, body)) = token.split_once('_') else {
        return Check::Doubtful;
    };
    if body.len() != 36 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Check::Doubtful;
    }
    let (random, sum) = body.split_at(30);
    let crc = crc32(random.as_bytes());
    const UPPER_FIRST: &[u8; 62] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const LOWER_FIRST: &[u8; 62] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if base62_6(crc, UPPER_FIRST) == sum.as_bytes() || base62_6(crc, LOWER_FIRST) == sum.as_bytes()
    {
        Check::Pass
    } else {
        Check::Doubtful
    }
}

fn base62_6(mut n: u32, alphabet: &[u8; 62]) -> [u8; 6] {
    let mut out = [alphabet[0]; 6];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(n % 62) as usize];
        n /= 62;
    }
    out
}

pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// An AWS access key id: a four-letter type prefix and sixteen base-32 characters.
fn aws_key_id(s: &str) -> bool {
    s.len() == 20
        && s.bytes()
            .skip(4)
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// A Discord bot token: its first part is the base64 of the bot's numeric id. A token edited
/// by hand (a leaked one with a few characters changed to pass as an example) keeps most of
/// those digits, first and last included, and is still reported; random base64 decodes to a
/// digit one byte in 25.
fn discord(s: &str) -> bool {
    let Some(first) = s.split('.').next() else {
        return false;
    };
    decode_b64(first).is_some_and(|b| {
        let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
        (17..=20).contains(&b.len())
            && b[0].is_ascii_digit()
            && b[b.len() - 1].is_ascii_digit()
            && digits * 3 >= b.len() * 2
    })
}

/// A PyPI API token: a macaroon whose location is pypi.org (or test.pypi.org).
fn pypi_macaroon(s: &str) -> bool {
    let body = s.strip_prefix("pypi-").unwrap_or(s);
    // Decode only the head: the location sits in the first bytes.
    let head_len = body.len().min(64) / 4 * 4;
    decode_b64(&body[..head_len]).is_some_and(|b| b.windows(8).any(|w| w == b"pypi.org"))
}

/// HTTP Basic credentials: base64 of `user:password`, printable, with a password.
fn basic_auth(s: &str) -> bool {
    decode_b64(s).is_some_and(|b| {
        let colon = b.iter().position(|&c| c == b':');
        // Passwords are not always ASCII: allow a stray byte, not binary noise.
        let odd = b.iter().filter(|c| !(0x20..0x7F).contains(*c)).count();
        odd * 20 <= b.len()
            && colon.is_some_and(|p| p > 0 && p + 1 < b.len())
            // A JSON object (a JWT header, say) is not a user name.
            && !b[..colon.unwrap_or(0)].iter().any(|&c| matches!(c, b'{' | b'"' | b'}'))
    })
}

/// Whether the key of a `key = value` match names a credential rather than one of the many
/// tokens that are not secrets: anti-forgery tokens, pagination cursors, sync and cancellation
/// handles.
fn token_key(whole: &str) -> bool {
    let whole = whole.trim_start_matches(['"', '\'', ' ', '\t']);
    let end = whole
        .find([':', '=', '"', '\'', ' ', '\t'])
        .unwrap_or(whole.len());
    let key = whole[..end].to_ascii_lowercase();
    const NOT_CREDENTIALS: [&str; 11] = [
        "csrf",
        "xsrf",
        "authenticity",
        "page",
        "continuation",
        "cursor",
        "pagination",
        "sync",
        "cancel",
        "resume",
        "nonce",
    ];
    !NOT_CREDENTIALS.iter().any(|w| key.contains(w))
}

fn public_ipv4(s: &str) -> bool {
    let Ok(ip) = s.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 100 && (64..128).contains(&o[1])))
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(s: &str) -> f32 {
    let b = s.as_bytes();
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &x in b {
        counts[usize::from(x)] += 1;
    }
    let n = b.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a value looks machine-generated rather than chosen by a person or written as a
/// word: at least 12 characters, at least two each of three of upper case, lower case, digits
/// and symbols, no run of more than seven letters of one case (words and camelCase names have
/// them; a random base62 string of 32 characters has one about once in forty), and at least
/// 3.3 bits of entropy per character.
pub(crate) fn looks_random(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 12 || b.len() > 512 {
        return false;
    }
    // Upper, lower, digit, other.
    let mut counts = [0u32; 4];
    let mut run = 0;
    let mut run_upper = false;
    for &c in b {
        let is_upper = c.is_ascii_uppercase();
        if c.is_ascii_alphabetic() {
            if run > 0 && run_upper == is_upper {
                run += 1;
            } else {
                run = 1;
                run_upper = is_upper;
            }
            if run > 7 {
                return false;
            }
        } else {
            run = 0;
        }
        let class = if is_upper {
            0
        } else if c.is_ascii_lowercase() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            3
        };
        counts[class] += 1;
    }
    // A class counts from two characters on: one capital in a hex digest is not variety.
    counts.iter().filter(|&&n| n >= 2).count() >= 3 && entropy(value) >= 3.3
}

/// Whether a secret-shaped value is a placeholder rather than a credential: masked runs
/// (`xxxx`, `****`), template syntax (`<token>`, `${VAR}`, `{{ x }}`), well-known example
/// markers, keyboard or alphabet sequences, or too few distinct characters.
pub(crate) fn is_placeholder(value: &str) -> bool {
    let b = value.as_bytes();
    if b.is_empty() {
        return true;
    }
    // Runs: five of any character, or four of the usual masking characters.
    let mut run = 1;
    for w in b.windows(2) {
        if w[0] == w[1] {
            run += 1;
            let mask = matches!(w[0], b'x' | b'X' | b'*' | b'#' | b'.' | b'_' | b'-' | b'0');
            if run >= 5 || (mask && run >= 4) {
                return true;
            }
        } else {
            run = 1;
        }
    }
    let lower = value.to_ascii_lowercase();
    const MARKERS: [&str; 19] = [
        "example",
        "sample",
        "placeholder",
        "dummy",
        "changeme",
        "change_me",
        "redacted",
        "your_",
        "your-",
        "yourkey",
        "yourtoken",
        "insert",
        "replace",
        "<",
        ">",
        "${",
        "{{",
        "%s",
        "$(",
    ];
    if MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // Credentials printed in public documentation, copied into countless READMEs and tests.
    const PUBLISHED: [&str; 4] = [
        // jwt.io's example token: its "John Doe" payload and its HS256 signature.
        "eyjzdwiioiixmjm0nty3odkwiiwibmftzsi6ikpvag4grg9li",
        "sflkxwrjsmekkf2qt4fwpmejf36pok6yjv_adqssw5c",
        // The AWS documentation's example secret access key.
        "wjalrxutnfemi/k7mdeng/bpxrficyexamplekey",
        // The bot token in Telegram's BotFather documentation.
        "110201543:aahdqtcvch1vgwjxfse1ofsas0k5paldsaw",
    ];
    if PUBLISHED.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // A member path in code: `self.authorization`, `config.api_key`, `process.env.TOKEN`. A
    // passphrase of dotted words (`correct.horse.battery.staple`) has neither a receiver nor
    // identifier style.
    const RECEIVERS: [&str; 14] = [
        "self", "this", "cls", "ctx", "config", "cfg", "settings", "process", "os", "env",
        "options", "opts", "args", "props",
    ];
    let identifier =
        |part: &str| part.contains('_') || part.bytes().skip(1).any(|c| c.is_ascii_uppercase());
    if value.contains('.')
        && value.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|c| c.is_ascii_alphabetic() || c == b'_')
        })
        && (value
            .split('.')
            .next()
            .is_some_and(|r| RECEIVERS.contains(&r))
            || value.split('.').any(identifier))
    {
        return true;
    }
    // A constant's name: `GITHUB_TOKEN`, `WINBIO_PRESENCE_0` (upper case, parts joined by `_`).
    if value.contains('_')
        && value.split('_').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        && value.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return true;
    }
    // A name in template braces or Windows' percent signs: `{ApiKey}`, `%API_KEY%`.
    let name = |inner: &str| {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
    };
    if let Some(inner) = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .or_else(|| value.strip_prefix('%').and_then(|v| v.strip_suffix('%')))
        && name(inner)
    {
        return true;
    }
    // Ascending sequences such as "abcdef", "123456" or "klmnop".
    let mut asc = 1;
    for w in lower.as_bytes().windows(2) {
        if w[0].is_ascii_alphanumeric() && w[1] == w[0] + 1 {
            asc += 1;
            if asc >= 6 {
                return true;
            }
        } else {
            asc = 1;
        }
    }
    if b.len() >= 16 {
        let mut seen = [false; 256];
        let distinct = b
            .iter()
            .filter(|&&x| !std::mem::replace(&mut seen[usize::from(x)], true))
            .count();
        if distinct < 7 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_cards() {
        assert!(Validator::Card.check("4111 1111 1111 1111") == Check::Pass);
        assert!(Validator::Card.check("4111 1111 1111 1112") == Check::Fail);
        assert!(Validator::Card.check("3782 822463 10005") == Check::Pass);
        assert!(Validator::Card.check("1234 5678 9012 3452") == Check::Fail);
    }

    #[test]
    fn iban_checks() {
        assert_eq!(
            Validator::Iban.check("GB82 WEST 1234 5698 7654 32"),
            Check::Pass
        );
        assert_eq!(
            Validator::Iban.check("GB82 WEST 1234 5698 7654 33"),
            Check::Fail
        );
        assert_eq!(Validator::Iban.check("DE89370400440532013000"), Check::Pass);
        assert_eq!(Validator::Iban.check("DE8937040044053201300"), Check::Fail);
    }

    #[test]
    fn national_ids() {
        assert_eq!(Validator::UsSsn.check("536-22-1234"), Check::Pass);
        assert_eq!(Validator::UsSsn.check("666-22-1234"), Check::Fail);
        assert_eq!(Validator::UsSsn.check("078-05-1120"), Check::Fail);
        assert_eq!(Validator::UsSsn.check("111-22-3333"), Check::Fail);
        assert_eq!(Validator::UsSsn.check("111-22-3334"), Check::Pass);
        assert_eq!(Validator::CaSin.check("130 692 544"), Check::Pass);
        // The well-known sample number starts with 0, which is never issued.
        assert_eq!(Validator::CaSin.check("046 454 286"), Check::Fail);
        assert_eq!(Validator::Aadhaar.check("2341 2341 2346"), Check::Pass);
        assert_eq!(Validator::Aadhaar.check("2341 2341 2345"), Check::Fail);
        assert_eq!(Validator::BrCpf.check("529.982.247-25"), Check::Pass);
        assert_eq!(Validator::BrCpf.check("529.982.247-26"), Check::Fail);
        assert_eq!(
            Validator::CnResidentId.check("11010519491231002X"),
            Check::Pass
        );
        assert_eq!(
            Validator::CnResidentId.check("110105194912310021"),
            Check::Fail
        );
        assert_eq!(Validator::UkNino.check("AB 12 34 56 C"), Check::Pass);
        assert_eq!(Validator::UkNino.check("QQ 12 34 56 C"), Check::Fail);
        assert_eq!(Validator::EsDni.check("12345678Z"), Check::Pass);
        assert_eq!(Validator::EsDni.check("12345678A"), Check::Fail);
    }

    #[test]
    fn jwt_structure() {
        let good = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.c2ln";
        assert_eq!(Validator::Jwt.check(good), Check::Pass);
        assert_eq!(
            Validator::Jwt.check("eyJhYmMiOjF9.eyJ4IjoxfQ.c2ln"),
            Check::Fail
        );
        assert_eq!(Validator::Jwt.check("eyJhbGciOiJIUzI1NiJ9"), Check::Fail);
        // A signature made of words is a fixture's.
        let words = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.dGVzdC1zaWduYXR1cmUtbm90LXJlYWw";
        assert_eq!(Validator::Jwt.check(words), Check::Fail);
        let random =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.8kQ2vX9pLm3RtY7wZc1NbA";
        assert_eq!(Validator::Jwt.check(random), Check::Pass);
    }

    #[test]
    fn github_crc() {
        assert_eq!(
            Validator::GithubChecksum.check("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"),
            Check::Pass
        );
        assert_eq!(
            Validator::GithubChecksum.check("ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18"),
            Check::Doubtful
        );
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn random_values() {
        assert!(looks_random("Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"));
        assert!(looks_random("dB2yF6@qL9vZm1P#4J"));
        assert!(looks_random("hQ7vX2mK9pL4tR8w"));
        // Two classes: hex digests and lower-case ids.
        assert!(!looks_random("6fe4476ee5a1832882e326b506d14126"));
        assert!(!looks_random("acdeFf05b1a6d4c890237bf08c5e6e8d2b4d0f2e"));
        // Words and names.
        assert!(!looks_random("MyDatabaseConnection1"));
        assert!(!looks_random("SECRETVALUE_2024x"));
        // Too short, or too little variety.
        assert!(!looks_random("aB3dE6gH9"));
        assert!(!looks_random("aA1aA1aA1aA1aA1aA1"));
    }

    #[test]
    fn placeholders() {
        assert!(is_placeholder("AKIAXXXXXXXXXXXXXXXX"));
        assert!(is_placeholder("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
        assert!(is_placeholder("AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        ));
        assert!(is_placeholder("<your-token>"));
        assert!(is_placeholder("${API_KEY}"));
        assert!(is_placeholder("{SumoAccessKey}"));
        assert!(is_placeholder("%API_TOKEN%"));
        assert!(is_placeholder("self.authorization"));
        assert!(is_placeholder("process.env.GITHUB_TOKEN"));
        assert!(!is_placeholder("sk.Qm7t2Kx9Lp4vR8nB"));
        assert!(is_placeholder("this.props.apiKey"));
        assert!(is_placeholder("WINBIO_PRESENCE_0"));
        assert!(!is_placeholder("Q7vX2mK9_pL4tR8wZ3nB"));
        assert!(!is_placeholder("correct.horse.battery.staple"));
        assert!(!is_placeholder("{q8TfVx2LmZ0pR7sK"));
        assert!(is_placeholder("abcdefghijklmnop"));
        assert!(!is_placeholder("wJalrXUtnFEMIK7MDENGbPxRfiCYzzKEY"));
        assert!(!is_placeholder(
            "xoxb-263594206564-FGqddMF8t08v8N7Oq4i57vs1"
        ));
    }

    #[test]
    fn entropy_bits() {
        assert!(entropy("aaaa") < 0.01);
        assert!((entropy("abcd") - 2.0).abs() < 1e-4);
    }

    #[test]
    fn basic_auth_values() {
        assert_eq!(Validator::BasicAuth.check("dXNlcjpodW50ZXIy"), Check::Pass);
        assert_eq!(
            Validator::BasicAuth.check("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"),
            Check::Fail
        );
        assert_eq!(Validator::BasicAuth.check("YnJvd3Nlcjo="), Check::Fail);
    }

    #[test]
    fn token_keys() {
        let check = |whole: &'static str| Validator::TokenKey.check_in("", || whole);
        assert_eq!(check("deploy_token = \"abc\""), Check::Pass);
        assert_eq!(check("\"csrf_token\": \"abc\""), Check::Fail);
        assert_eq!(check("NEXT_PAGE_TOKEN=abc"), Check::Fail);
    }

    #[test]
    fn ipv4() {
        assert_eq!(Validator::PublicIpv4.check("133.133.133.133"), Check::Pass);
        assert_eq!(Validator::PublicIpv4.check("10.0.0.1"), Check::Fail);
        assert_eq!(Validator::PublicIpv4.check("256.1.1.1"), Check::Fail);
    }
}
