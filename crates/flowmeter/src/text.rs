//! Text forms of identifiers and numbers, written into a fixed row buffer
//! without allocating: addresses, the `Flow ID`, the `Timestamp` (as the
//! oracle's Java `Instant.toString` writes it) and numbers.
//!
//! A row is built field by field with indexed writes in one buffer and
//! copied out once: appending each number to a `Vec` would cost a `memcpy`
//! call per field, which is most of the time spent writing a CSV row.

use std::net::IpAddr;

/// Room for one row of identifiers and features: 94 fields of at most 40
/// bytes (an IPv6 address) each fit several times over.
const ROW_CAPACITY: usize = 8192;

/// One row (or one cell) being written.
pub(crate) struct Row {
    buf: Box<[u8; ROW_CAPACITY]>,
    len: usize,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").field("len", &self.len).finish()
    }
}

impl Default for Row {
    fn default() -> Self {
        Row {
            buf: Box::new([0; ROW_CAPACITY]),
            len: 0,
        }
    }
}

impl std::fmt::Write for Row {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl Row {
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The row as text (it only ever holds ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// An unsigned integer, at least `width` digits (zero-padded).
    #[inline]
    pub fn padded(&mut self, mut value: u64, width: usize) {
        let mut digits = 1;
        let mut rest = value / 10;
        while rest > 0 {
            digits += 1;
            rest /= 10;
        }
        let digits = digits.max(width);
        let end = self.len + digits;
        let mut at = end;
        for _ in 0..digits {
            at -= 1;
            self.buf[at] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len = end;
    }

    #[inline]
    pub fn uint(&mut self, value: u64) {
        if value < 10 {
            self.byte(b'0' + value as u8);
        } else {
            self.padded(value, 1);
        }
    }

    #[inline]
    pub fn int(&mut self, value: i64) {
        if value < 0 {
            self.byte(b'-');
        }
        self.uint(value.unsigned_abs());
    }

    /// A float the way a reader of the oracle's CSV expects it: integral
    /// values as `12.0`, others in the shortest form that reads back to the
    /// same double, and Java's spellings of the non-finite values.
    #[inline]
    pub fn float(&mut self, value: f64) {
        if value == 0.0 {
            // Zero, the most common cell.
            self.bytes(b"0.0");
        } else if value.abs() < 1e15 && (value as i64) as f64 == value {
            // Integral (most feature cells): no general algorithm needed.
            if value.is_sign_negative() && value != 0.0 {
                self.byte(b'-');
            }
            self.uint((value as i64).unsigned_abs());
            self.byte(b'.');
            self.byte(b'0');
        } else if value.is_finite() {
            self.bytes(ryu::Buffer::new().format_finite(value).as_bytes());
        } else if value.is_nan() {
            self.bytes(b"NaN");
        } else if value > 0.0 {
            self.bytes(b"Infinity");
        } else {
            self.bytes(b"-Infinity");
        }
    }

    /// An address: dotted quad for IPv4, RFC 5952 text for IPv6.
    pub fn ip(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                self.uint(u64::from(a));
                self.byte(b'.');
                self.uint(u64::from(b));
                self.byte(b'.');
                self.uint(u64::from(c));
                self.byte(b'.');
                self.uint(u64::from(d));
            }
            IpAddr::V6(v6) => {
                use std::fmt::Write;
                // Writing into a row cannot fail.
                let _ = write!(self, "{v6}");
            }
        }
    }

    /// A flow start time (microseconds since the Unix epoch) as the oracle
    /// writes it: see [`format_timestamp`].
    pub fn timestamp(&mut self, micros: i64) {
        let seconds = micros.div_euclid(1_000_000);
        let fraction = micros.rem_euclid(1_000_000) as u64;
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400) as u64;
        let (year, month, day) = civil_from_days(days);
        if year > 9999 {
            self.byte(b'+');
        } else if year < 0 {
            self.byte(b'-');
        }
        self.padded(year.unsigned_abs(), 4);
        self.byte(b'-');
        self.padded(month, 2);
        self.byte(b'-');
        self.padded(day, 2);
        self.byte(b' ');
        self.padded(of_day / 3600, 2);
        self.byte(b':');
        self.padded(of_day / 60 % 60, 2);
        self.byte(b':');
        self.padded(of_day % 60, 2);
        if fraction != 0 {
            self.byte(b'.');
            if fraction.is_multiple_of(1000) {
                self.padded(fraction / 1000, 3);
            } else {
                self.padded(fraction, 6);
            }
        }
    }
}

/// Formats a flow start time (microseconds since the Unix epoch) as the
/// oracle writes it: `Instant.toString()` with `T` and `Z` removed, i.e.
/// `YYYY-MM-DD HH:MM:SS` in UTC followed by the fraction of the second in
/// as many groups of three digits as it needs (none, `.mmm` or `.uuuuuu`).
///
/// ```
/// # use flowmeter::format_timestamp;
/// assert_eq!(format_timestamp(1_500_000_000_000_000), "2017-07-14 02:40:00");
/// assert_eq!(format_timestamp(1_500_000_000_020_000), "2017-07-14 02:40:00.020");
/// assert_eq!(format_timestamp(1_500_000_000_348_929), "2017-07-14 02:40:00.348929");
/// ```
pub fn format_timestamp(micros: i64) -> String {
    let mut row = Row::default();
    row.timestamp(micros);
    row.as_str().to_string()
}

/// Year, month and day of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut row = Row::default();
        row.float(v);
        row.as_str().to_string()
    }

    #[test]
    fn timestamps_follow_java_instant_to_string() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_timestamp(946_735_705_348_929),
            "2000-01-01 14:08:25.348929"
        );
        assert_eq!(
            format_timestamp(946_729_035_060_000),
            "2000-01-01 12:17:15.060"
        );
        assert_eq!(
            format_timestamp(951_782_400_000_001),
            "2000-02-29 00:00:00.000001"
        );
        assert_eq!(
            format_timestamp(4_102_444_800_000_000),
            "2100-01-01 00:00:00"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31 23:59:59.999999");
        assert_eq!(
            format_timestamp(253_402_300_800_000_000),
            "+10000-01-01 00:00:00"
        );
    }

    #[test]
    fn floats_read_back_exactly() {
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(74002499.0), "74002499.0");
        assert_eq!(float(-1.0), "-1.0");
        assert_eq!(float(-0.0), "0.0");
        assert_eq!(float(2.0269528515091637), "2.0269528515091637");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "Infinity");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
        for v in [
            1e300,
            1.5e-7,
            123456.789,
            1e15,
            9.999e14,
            -3.25,
            -12345678.0,
        ] {
            assert_eq!(float(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn integers_and_addresses() {
        let mut row = Row::default();
        row.int(i64::MIN);
        row.byte(b' ');
        row.uint(u64::MAX);
        row.byte(b' ');
        row.int(0);
        row.byte(b' ');
        row.ip(&"192.168.1.13".parse().unwrap());
        row.byte(b' ');
        row.ip(&"2001:db8::1".parse().unwrap());
        assert_eq!(
            row.as_str(),
            "-9223372036854775808 18446744073709551615 0 192.168.1.13 2001:db8::1"
        );
    }
}
