//! Text forms of identifiers, written into a byte buffer without allocating:
//! addresses, the `Flow ID`, the `Timestamp` (as the oracle's Java
//! `Instant.toString` writes it) and numbers.

use std::net::IpAddr;

/// Appends an address: dotted quad for IPv4, RFC 5952 text for IPv6.
pub(crate) fn push_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(*octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends an integer.
pub(crate) fn push_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a float the way a reader of the oracle's CSV expects it:
/// integral values as `12.0`, others in the shortest form that reads back
/// to the same double, and Java's spellings of the non-finite values.
pub(crate) fn push_float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Integral values (most feature cells) skip the general algorithm.
        if value.abs() < 1e15 && (value as i64) as f64 == value {
            push_int(out, value as i64);
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
        }
    } else if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value > 0.0 {
        out.extend_from_slice(b"Infinity");
    } else {
        out.extend_from_slice(b"-Infinity");
    }
}

/// Appends a flow start time (microseconds since the Unix epoch) as the
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
    let mut out = Vec::with_capacity(26);
    push_timestamp(&mut out, micros);
    String::from_utf8(out).expect("timestamps are ASCII")
}

pub(crate) fn push_timestamp(out: &mut Vec<u8>, micros: i64) {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        out.push(b'+');
    } else if year < 0 {
        out.push(b'-');
    }
    push_padded(out, year.unsigned_abs(), 4);
    out.push(b'-');
    push_padded(out, month, 2);
    out.push(b'-');
    push_padded(out, day, 2);
    out.push(b' ');
    push_padded(out, (of_day / 3600) as u64, 2);
    out.push(b':');
    push_padded(out, (of_day / 60 % 60) as u64, 2);
    out.push(b':');
    push_padded(out, (of_day % 60) as u64, 2);
    if fraction != 0 {
        out.push(b'.');
        if fraction % 1000 == 0 {
            push_padded(out, (fraction / 1000) as u64, 3);
        } else {
            push_padded(out, fraction as u64, 6);
        }
    }
}

fn push_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(value);
    for _ in text.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(text.as_bytes());
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
        let mut out = Vec::new();
        push_float(&mut out, v);
        String::from_utf8(out).unwrap()
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
        assert_eq!(float(2.0269528515091637), "2.0269528515091637");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "Infinity");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
        for v in [1e300, 1.5e-7, 123456.789, 1e15, 9.999e14] {
            assert_eq!(float(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn addresses() {
        let mut out = Vec::new();
        push_ip(&mut out, &"192.168.1.13".parse().unwrap());
        out.push(b' ');
        push_ip(&mut out, &"2001:db8::1".parse().unwrap());
        assert_eq!(out, b"192.168.1.13 2001:db8::1");
    }
}
