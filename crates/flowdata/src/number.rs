//! Numbers in flow cells: counts and plain decimals parsed in one pass
//! over the line, anything else through a full float parser.

use crate::clean::CellCounts;

pub(crate) enum Cell {
    Value(f32),
    Empty,
    Bad,
}

#[inline]
pub(crate) fn parse_cell(bytes: &[u8]) -> Cell {
    let t = bytes.trim_ascii();
    if t.is_empty() {
        return Cell::Empty;
    }
    // Most cells are plain counts: up to 19 digits fit a u64 exactly, and
    // its conversion rounds to nearest like a full parse would.
    if t.len() <= 19 {
        let mut n = 0u64;
        let mut digits = true;
        for &b in t {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                digits = false;
                break;
            }
            n = n * 10 + u64::from(d);
        }
        if digits {
            return Cell::Value(n as f32);
        }
    }
    match fast_float2::parse::<f32, _>(t) {
        Ok(v) => Cell::Value(v),
        Err(_) => Cell::Bad,
    }
}

/// Powers of ten exact in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The plain number (digits, optionally `.` and more digits) starting at
/// `from`, and where its digits end; `None` for anything else (a sign, an
/// exponent, no digits, more than 19 digits), which a full parse handles.
///
/// The value is the correctly rounded `f32`, as a full parse gives: the
/// digits form an integer `m` below 2^53 and the point a power of ten
/// `10^k` (k <= 22), both exact in `f64`, so `m / 10^k` is rounded once to
/// `f64`; rounding that to `f32` is rounding once more, and for a quotient
/// double rounding through a format of at least 2 x 24 + 2 bits gives the
/// same result as rounding once (Figueroa, 1995).
// Always inlined: it is the inner loop of the fast path, called for
// every cell of a feature (and of CICFlowMeter's repeated column).
#[inline(always)]
pub(crate) fn plain_number(line: &[u8], from: usize) -> (Option<f32>, usize) {
    let n = line.len();
    let (m, pos) = digits(line, from, 0);
    let int_digits = pos - from;
    if int_digits == 0 || int_digits > 19 {
        return (None, pos);
    }
    if pos == n || line[pos] != b'.' {
        // A count: up to 19 digits fit a u64 exactly, and its conversion
        // rounds to nearest like a full parse would.
        return (Some(m as f32), pos);
    }
    let (m, end) = digits(line, pos + 1, m);
    let frac_digits = end - pos - 1;
    if frac_digits == 0 || int_digits + frac_digits > 19 || m > 1 << 53 {
        return (None, end);
    }
    (Some((m as f64 / POW10[frac_digits]) as f32), end)
}

/// Read the ASCII digits from `from` on into `m` (`m * 10 + digit` each,
/// wrapping: callers count the digits); the value and where they end.
/// Eight bytes at a time where the line has them.
#[inline]
fn digits(line: &[u8], from: usize, mut m: u64) -> (u64, usize) {
    let mut pos = from;
    while let Some(bytes) = line.get(pos..pos + 8) {
        let chunk = u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        let (k, v) = leading_digits(chunk);
        m = m.wrapping_mul(POW10_U64[k]).wrapping_add(v);
        pos += k;
        if k < 8 {
            return (m, pos);
        }
    }
    while let Some(&b) = line.get(pos) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        pos += 1;
    }
    (m, pos)
}

const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of eight bytes (little-endian, first byte lowest) are ASCII
/// digits before the first that is not, and the number they spell.
#[inline]
fn leading_digits(chunk: u64) -> (usize, u64) {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // A byte is a digit when its high nibble is 3 and adding 6 to it does
    // not carry out of the low nibble. A carry out of a byte (>= 0xFA)
    // only reaches bytes after it, which do not count.
    let not_digit =
        ((chunk & HIGH) ^ THREES) | ((chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
    let k = (not_digit.trailing_zeros() / 8) as usize;
    if k == 0 {
        return (0, 0);
    }
    // The digits' values moved to the top bytes: the bytes below are
    // leading zeros. Then pairs, quads and the eight are combined.
    let v = (chunk & 0x0F0F_0F0F_0F0F_0F0F) << (8 * (8 - k));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let a = (v & MASK).wrapping_mul(100 + (1_000_000 << 32));
    let b = ((v >> 16) & MASK).wrapping_mul(1 + (10_000 << 32));
    (k, u64::from((a.wrapping_add(b) >> 32) as u32))
}

/// Store a parsed cell and count what it holds; true when it is not a
/// finite number (an empty cell becomes NaN).
#[inline]
pub(crate) fn store(cell: Cell, slot: &mut f32, counts: &mut CellCounts) -> bool {
    match cell {
        Cell::Value(v) if v.is_finite() => {
            // -0.0 and 0.0 are one value (for deduplication too).
            *slot = v + 0.0;
            false
        }
        Cell::Value(v) => {
            if v.is_nan() {
                counts.nan += 1;
            } else {
                counts.infinite += 1;
            }
            *slot = v;
            true
        }
        Cell::Empty => {
            counts.empty += 1;
            *slot = f32::NAN;
            true
        }
        // Callers report bad cells themselves.
        Cell::Bad => {
            *slot = f32::NAN;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The plain-number path gives the full parser's value, bit for bit,
    /// and declines what it does not handle.
    #[test]
    fn plain_numbers_match_the_full_parse() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut checked = 0;
        for _ in 0..200_000 {
            let int_digits = rng.random_range(1..=12);
            let frac_digits = rng.random_range(0..=12);
            let mut text: String = (0..int_digits)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if frac_digits > 0 {
                text.push('.');
                text.extend((0..frac_digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))));
            }
            let number = text.clone();
            // What follows the number: nothing, the next cell, or a
            // byte that is no digit.
            match rng.random_range(0..4) {
                0 => {}
                1 => text.push_str(",12345678,9"),
                2 => {
                    let b = rng.random_range(0..=0xFFu8);
                    if b.is_ascii_digit() || b == b'.' {
                        continue;
                    }
                    text.push(char::from(b));
                }
                _ => text.push_str("e5"),
            }
            let (value, end) = plain_number(text.as_bytes(), 0);
            assert_eq!(end, number.len(), "{text}");
            let full: f32 = fast_float2::parse(&number).unwrap();
            if let Some(v) = value {
                assert_eq!(v.to_bits(), full.to_bits(), "{text}: {v} against {full}");
                checked += 1;
            }
        }
        assert!(checked > 100_000, "only {checked} taken by the plain path");
        // Halfway cases between two f32 values, written out exactly.
        for text in [
            "16777217",
            "16777217.0",
            "0.1",
            "3.4028235",
            "33554435.00",
            "1.00000005960464477539",
        ] {
            let (value, _) = plain_number(text.as_bytes(), 0);
            if let Some(v) = value {
                let full: f32 = fast_float2::parse(text).unwrap();
                assert_eq!(v.to_bits(), full.to_bits(), "{text}");
            }
        }
        // A byte that carries when 6 is added stops the digits before it.
        let carry = [b'1', b'2', 0xFF, b'3', b'4', b'5', b'6', b'7', b'8', b'9'];
        assert_eq!(plain_number(&carry, 0), (Some(12.0), 2));
        for declined in [
            "",
            ".5",
            "5.",
            "-1",
            "1e5",
            "+2",
            "12345678901234567890",
            "1.2.3",
        ] {
            let (value, end) = plain_number(declined.as_bytes(), 0);
            let rest = &declined.as_bytes()[end..];
            assert!(
                value.is_none() || !rest.is_empty(),
                "{declined:?} taken whole as {value:?}"
            );
        }
    }
}
