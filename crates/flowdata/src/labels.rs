//! Labels: raw text, normalised attack family, binary class.

use serde::{Deserialize, Serialize};

/// The attack families that CIC-IDS2017's labels fall into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// Normal traffic (`BENIGN`, UNSW-NB15's `Normal`).
    Benign,
    /// Denial of service from one host (Hulk, GoldenEye, slowloris, Slowhttptest).
    DoS,
    /// Distributed denial of service.
    DDoS,
    /// Port scans.
    PortScan,
    /// Password guessing (FTP-Patator, SSH-Patator).
    BruteForce,
    /// Web attacks (brute force over HTTP, XSS, SQL injection).
    WebAttack,
    /// Botnet traffic.
    Bot,
    /// Infiltration (including the improved re-extraction's "Infiltration - Portscan").
    Infiltration,
    /// Heartbleed.
    Heartbleed,
    /// Any other attack label.
    Other,
}

impl Family {
    /// All families, benign first.
    pub const ALL: [Family; 10] = [
        Family::Benign,
        Family::DoS,
        Family::DDoS,
        Family::PortScan,
        Family::BruteForce,
        Family::WebAttack,
        Family::Bot,
        Family::Infiltration,
        Family::Heartbleed,
        Family::Other,
    ];

    /// True for every family but [`Family::Benign`].
    pub fn is_attack(self) -> bool {
        self != Family::Benign
    }

    /// The family's name as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Benign => "Benign",
            Family::DoS => "DoS",
            Family::DDoS => "DDoS",
            Family::PortScan => "PortScan",
            Family::BruteForce => "BruteForce",
            Family::WebAttack => "WebAttack",
            Family::Bot => "Bot",
            Family::Infiltration => "Infiltration",
            Family::Heartbleed => "Heartbleed",
            Family::Other => "Other",
        }
    }

    /// The family of a normalised name ([`Family::name`]), ignoring case:
    /// `DDoS`, `ddos`, `WebAttack` ...
    ///
    /// ```
    /// use flowdata::Family;
    /// assert_eq!(Family::from_name("ddos"), Some(Family::DDoS));
    /// assert_eq!(Family::from_name("PortScan"), Some(Family::PortScan));
    /// assert_eq!(Family::from_name("Web Attack"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Family> {
        let name = name.trim();
        Family::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The family of a raw label, whatever its spelling: `BENIGN`,
    /// `Web Attack – Brute Force` (cp1252 or UTF-8 dash, or an ASCII
    /// hyphen), `DoS Hulk`, `FTP-Patator`, `Bot`, `Botnet`, the merged
    /// names of re-exports (`WebAttack`, `BruteForce`), UNSW-NB15's
    /// `Normal`, `DoS`, `Reconnaissance` ...
    ///
    /// ```
    /// use flowdata::Family;
    /// assert_eq!(Family::from_label("Web Attack \u{2013} Brute Force"), Family::WebAttack);
    /// assert_eq!(Family::from_label("Web Attack - Brute Force"), Family::WebAttack);
    /// assert_eq!(Family::from_label("SSH-Patator"), Family::BruteForce);
    /// assert_eq!(Family::from_label(" BENIGN "), Family::Benign);
    /// assert_eq!(Family::from_label("DDoS"), Family::DDoS);
    /// assert_eq!(Family::from_label("DoS Hulk"), Family::DoS);
    /// ```
    ///
    /// A cell that names no class (blank, punctuation only, or the
    /// extractor's `NeedManualLabel` placeholder, see [`is_no_label`]) is
    /// never an attack: it gets [`Family::Benign`], and
    /// [`ClassInfo::labelled`] tells such rows apart.
    pub fn from_label(label: &str) -> Family {
        let key: String = label
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        let has = |s: &str| key.contains(s);
        if key == "benign" || key == "normal" || key == "0" || no_label_key(&key) {
            Family::Benign
        } else if has("web") || has("xss") || has("sqlinjection") {
            Family::WebAttack
        } else if has("ddos") {
            Family::DDoS
        } else if key.starts_with("dos") {
            Family::DoS
        } else if has("infiltration") || has("infilteration") {
            Family::Infiltration
        } else if has("portscan") || has("reconnaissance") {
            Family::PortScan
        } else if has("patator") || has("bruteforce") {
            Family::BruteForce
        } else if key.starts_with("bot") {
            Family::Bot
        } else if has("heartbleed") {
            Family::Heartbleed
        } else {
            Family::Other
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The spellings of "no label", as letters and digits in lower case: the
/// placeholder CICFlowMeter writes for flows it was not told the class of,
/// and the plain words.
const NO_LABEL: [&str; 3] = ["needmanuallabel", "unlabelled", "unlabeled"];

fn no_label_key(key: &str) -> bool {
    key.is_empty() || NO_LABEL.contains(&key)
}

/// True when a label cell names no class: blank, punctuation only (`?`,
/// `-`), or a placeholder for "no label" (`NeedManualLabel`, which
/// CICFlowMeter writes for unlabelled flows, or `unlabelled`), in any case.
///
/// ```
/// assert!(flowdata::is_no_label(" NeedManualLabel "));
/// assert!(flowdata::is_no_label("?") && flowdata::is_no_label(""));
/// assert!(!flowdata::is_no_label("BENIGN") && !flowdata::is_no_label("0"));
/// ```
pub fn is_no_label(label: &str) -> bool {
    let key: String = label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    no_label_key(&key)
}

/// One distinct class of a [`crate::FlowFrame`]: its raw label, family and
/// binary class, and whether the input gave a label at all.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClassInfo {
    /// The label as written in the file (decoded, trimmed; the en dash of
    /// the original files is kept as U+2013), or for rows without a label
    /// the text [`crate::ReadOptions::unlabelled`] gives them.
    pub raw: String,
    /// The normalised family.
    pub family: Family,
    /// Binary class: true for attacks.
    pub attack: bool,
    /// False for rows whose input gave no label (a file without the label
    /// column, a blank cell, the `NeedManualLabel` placeholder): their
    /// class is an assumption, never evidence; metrics leave them out.
    #[serde(default = "labelled_by_default")]
    pub labelled: bool,
}

fn labelled_by_default() -> bool {
    true
}

impl ClassInfo {
    /// A class from a raw CIC-IDS2017-style label; a label that names no
    /// class ([`is_no_label`]) gives an unlabelled, benign class.
    ///
    /// ```
    /// use flowdata::{ClassInfo, Family};
    /// let c = ClassInfo::from_label("NeedManualLabel");
    /// assert!(!c.labelled && !c.attack && c.family == Family::Benign);
    /// assert!(ClassInfo::from_label("DDoS").labelled);
    /// ```
    pub fn from_label(raw: &str) -> ClassInfo {
        let family = Family::from_label(raw);
        ClassInfo {
            raw: raw.trim().to_string(),
            family,
            attack: family.is_attack(),
            labelled: !is_no_label(raw),
        }
    }

    /// The class of rows without a label, which are given `assumed` (a
    /// reader's [`crate::ReadOptions::unlabelled`]): that label's class,
    /// marked unlabelled; never an attack unless `assumed` names one.
    pub fn unlabelled(assumed: &str) -> ClassInfo {
        ClassInfo {
            labelled: false,
            ..ClassInfo::from_label(assumed)
        }
    }
}

/// What a label cell holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LabelCell {
    /// A class name.
    Class,
    /// No class ([`is_no_label`]).
    #[default]
    NoLabel,
    /// Bytes that are not text ([`is_text`]).
    NotText,
}

/// Classify a label cell (trimmed) without allocating: labels are read
/// once per row.
pub(crate) fn label_cell(cell: &[u8]) -> LabelCell {
    let t = cell.trim_ascii();
    // One pass: letters and digits, bytes past ASCII, control bytes.
    let (mut alnum, mut high, mut control) = (0usize, false, false);
    for &b in t {
        alnum += usize::from(b.is_ascii_alphanumeric());
        high |= b >= 0x80;
        control |= (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f;
    }
    if control || (high && !is_text(t)) {
        return LabelCell::NotText;
    }
    // A non-ASCII character may be a letter: such a cell names a class
    // unless its ASCII letters spell a placeholder.
    let placeholder = || {
        NO_LABEL.iter().any(|key| {
            key.len() == alnum
                && t.iter()
                    .filter(|b| b.is_ascii_alphanumeric())
                    .map(u8::to_ascii_lowercase)
                    .eq(key.bytes())
        })
    };
    if (alnum == 0 && !high) || placeholder() {
        LabelCell::NoLabel
    } else {
        LabelCell::Class
    }
}

/// True when a cell is text: UTF-8, or ASCII with single Windows-1252
/// punctuation or symbols (bytes 0x80 to 0xBF), as the original CIC-IDS2017
/// files write their en dash (byte 0x96); in both without control
/// characters other than tab and line ends (a quoted field may hold
/// those). Not text: a byte that is not UTF-8 and not such a symbol (bytes
/// from 0xC0 up start UTF-8 sequences: alone, they are a broken one), a
/// run of them, a byte Windows-1252 leaves undefined, a control byte.
///
/// ```
/// assert!(flowdata::is_text(b"Web Attack \x96 Brute Force"));
/// assert!(flowdata::is_text("Web Attack \u{2013} XSS".as_bytes()));
/// assert!(!flowdata::is_text(b"\xff\xfe\xfd"));
/// assert!(!flowdata::is_text(b"BEN\xc3\x28IGN"));
/// assert!(!flowdata::is_text(b"BEN\x00IGN"));
/// ```
pub fn is_text(cell: &[u8]) -> bool {
    let control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f;
    if cell.is_ascii() {
        return !cell.iter().any(|&b| control(b));
    }
    match std::str::from_utf8(cell) {
        Ok(s) => !s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        Err(_) => {
            let symbol =
                |b: u8| matches!(b, 0x80..=0xbf) && !matches!(b, 0x81 | 0x8d | 0x8f | 0x90 | 0x9d);
            cell.iter().all(|&b| (b < 0x80 && !control(b)) || symbol(b))
                && !cell.windows(2).any(|w| w[0] >= 0x80 && w[1] >= 0x80)
        }
    }
}

/// Decode a label cell: UTF-8 when valid, otherwise Windows-1252 (the
/// original CIC-IDS2017 files write the en dash as byte 0x96).
///
/// ```
/// assert_eq!(flowdata::decode_label(b"Web Attack \x96 Brute Force"), "Web Attack \u{2013} Brute Force");
/// assert_eq!(flowdata::decode_label(" BENIGN".as_bytes()), "BENIGN");
/// ```
pub fn decode_label(bytes: &[u8]) -> String {
    decode_text(bytes).trim().to_string()
}

/// A cell's text as it is: UTF-8 when valid, otherwise Windows-1252.
pub(crate) fn decode_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => bytes
            .iter()
            .map(|&b| cp1252_char(b))
            .collect::<String>()
            .into(),
    }
}

fn cp1252_char(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20ac}', '\u{fffd}', '\u{201a}', '\u{0192}', '\u{201e}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02c6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{fffd}',
        '\u{017d}', '\u{fffd}', '\u{fffd}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}',
        '\u{2022}', '\u{2013}', '\u{2014}', '\u{02dc}', '\u{2122}', '\u{0161}', '\u{203a}',
        '\u{0153}', '\u{fffd}', '\u{017e}', '\u{0178}',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cicids_labels_map_to_families() {
        let cases = [
            ("BENIGN", Family::Benign),
            ("DoS GoldenEye", Family::DoS),
            ("DoS Slowhttptest", Family::DoS),
            ("DoS slowloris", Family::DoS),
            ("DDoS", Family::DDoS),
            ("PortScan", Family::PortScan),
            ("Portscan", Family::PortScan),
            ("FTP-Patator", Family::BruteForce),
            ("BruteForce", Family::BruteForce),
            ("Web Attack \u{fffd} Sql Injection", Family::WebAttack),
            ("Web Attack - XSS", Family::WebAttack),
            ("WebAttack", Family::WebAttack),
            ("Bot", Family::Bot),
            ("Botnet", Family::Bot),
            ("Infiltration", Family::Infiltration),
            ("Infiltration - Portscan", Family::Infiltration),
            ("Heartbleed", Family::Heartbleed),
            ("Normal", Family::Benign),
            ("Exploits", Family::Other),
        ];
        for (label, family) in cases {
            assert_eq!(Family::from_label(label), family, "{label}");
        }
    }

    #[test]
    fn three_dash_spellings_give_one_family() {
        let a = decode_label(b"Web Attack \x96 Brute Force");
        let b = decode_label("Web Attack \u{2013} Brute Force".as_bytes());
        let c = decode_label(b"Web Attack - Brute Force");
        assert_eq!(a, b);
        for l in [a, b, c] {
            assert_eq!(Family::from_label(&l), Family::WebAttack);
        }
    }
}
