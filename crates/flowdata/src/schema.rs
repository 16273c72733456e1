//! Feature schemas: which columns are features, in which order, and how to treat them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};

/// How a feature is used downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A numeric quantity that is scaled.
    Continuous,
    /// A flag or small count that is left unscaled.
    Flag,
    /// A category coded as a number (the destination port), never scaled;
    /// models embed it or leave it out.
    Categorical,
}

/// One feature column of a [`Schema`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Canonical name.
    pub name: String,
    /// How the feature is used.
    pub kind: FeatureKind,
    /// True when a negative value is impossible for the quantity (a count, a
    /// length, a duration): negative values are then extraction errors and
    /// follow [`crate::NegativePolicy`].
    #[serde(default)]
    pub nonnegative: bool,
    /// A value that means "not observed" (CIC-IDS2017 writes -1 in
    /// `Init_Win_bytes_*`); such cells follow [`crate::SentinelPolicy`].
    #[serde(default)]
    pub sentinel: Option<f32>,
}

/// What happens to a text column that is a category (UNSW-NB15's `proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CategoricalPolicy {
    /// One 0/1 feature per category seen when the schema was inferred.
    #[default]
    OneHot,
    /// The column is left out.
    Drop,
}

/// A one-hot encoded text column of a generic schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneHotColumn {
    /// The source column.
    pub column: String,
    /// The categories, in feature order; feature names are `column=category`.
    pub categories: Vec<String>,
}

/// Which columns are features, in which order, where the label is, and how
/// each feature is treated. Persisted as JSON beside a trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// A short name (`cicids2017`, or the inferred file's stem).
    pub name: String,
    /// The features, in matrix column order.
    pub features: Vec<FeatureSpec>,
    /// The label column (raw label text).
    pub label_column: String,
    /// A column that names the attack family, when it differs from the label
    /// column (UNSW-NB15: label `label`, family `attack_cat`).
    #[serde(default)]
    pub family_column: Option<String>,
    /// One-hot encoded text columns (generic schemas only).
    #[serde(default)]
    pub one_hot: Vec<OneHotColumn>,
    /// Whether this schema uses the CIC-IDS2017 alias table to match headers.
    #[serde(default)]
    pub use_aliases: bool,
}

/// Normalise a header for matching: lower case, only letters and digits.
///
/// ```
/// assert_eq!(flowdata::normalize_header(" Flow Bytes/s"), "flowbytess");
/// assert_eq!(flowdata::normalize_header("Init_Win_bytes_forward"), "initwinbytesforward");
/// ```
pub fn normalize_header(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The identifier columns a reader passes through ([`crate::ReadOptions::origins`]),
/// by canonical name, in output order.
pub const IDENTIFIER_COLUMNS: [&str; 8] = [
    "Flow ID",
    "Src IP",
    "Src Port",
    "Dst IP",
    "Dst Port",
    "Protocol",
    "Timestamp",
    "id",
];

/// Per entry of [`IDENTIFIER_COLUMNS`]: whether it is never a feature, and
/// the other extractors' spellings (CICFlowMeter's original release, its
/// Python port, UNSW-NB15, Argus). `Dst Port` and `Protocol` can also be
/// model features.
const IDENTIFIER_SPELLINGS: [(bool, &[&str]); 8] = [
    (true, &[]),
    (true, &["Source IP", "saddr"]),
    (true, &["Source Port", "sport"]),
    (true, &["Destination IP", "daddr"]),
    (false, &["Destination Port", "dsport", "dport"]),
    (false, &["proto"]),
    (true, &["stime"]),
    (true, &[]),
];

/// Never features, yet not passed through (UNSW-NB15's last-packet time).
const OTHER_IDENTIFIERS: &[&str] = &["ltime"];

/// The index in [`IDENTIFIER_COLUMNS`] of the identifier a header names,
/// in any known spelling.
///
/// ```
/// use flowdata::{IDENTIFIER_COLUMNS, identifier_column};
/// assert_eq!(identifier_column(" Source IP").map(|i| IDENTIFIER_COLUMNS[i]), Some("Src IP"));
/// assert_eq!(identifier_column("dst_port").map(|i| IDENTIFIER_COLUMNS[i]), Some("Dst Port"));
/// assert_eq!(identifier_column("Flow Duration"), None);
/// ```
pub fn identifier_column(header: &str) -> Option<usize> {
    let key = normalize_header(header);
    (0..IDENTIFIER_COLUMNS.len()).find(|&i| {
        normalize_header(IDENTIFIER_COLUMNS[i]) == key
            || IDENTIFIER_SPELLINGS[i]
                .1
                .iter()
                .any(|s| normalize_header(s) == key)
    })
}

/// True for identifier columns (`Flow ID`, addresses, `Source Port`,
/// `Timestamp`, `id`), which are never features.
///
/// ```
/// assert!(flowdata::is_identifier(" Source IP"));
/// assert!(!flowdata::is_identifier("Flow Duration"));
/// assert!(!flowdata::is_identifier(" Destination Port"));
/// ```
pub fn is_identifier(name: &str) -> bool {
    identifier_column(name).is_some_and(|i| IDENTIFIER_SPELLINGS[i].0)
        || OTHER_IDENTIFIERS.contains(&normalize_header(name).as_str())
}

/// The CIC-IDS2017 features in the order of the MachineLearningCVE files,
/// with the known spellings of other extractors. `(canonical, kind, aliases)`.
const CICIDS2017: &[(&str, FeatureKind, &[&str])] = {
    use FeatureKind::{Categorical as Cat, Continuous as C, Flag as F};
    &[
        ("Destination Port", Cat, &["Dst Port", "dst_port"]),
        ("Flow Duration", C, &["flow_duration"]),
        (
            "Total Fwd Packets",
            C,
            &["Total Fwd Packet", "Tot Fwd Pkts", "tot_fwd_pkts"],
        ),
        (
            "Total Backward Packets",
            C,
            &["Total Bwd packets", "Tot Bwd Pkts", "tot_bwd_pkts"],
        ),
        (
            "Total Length of Fwd Packets",
            C,
            &[
                "Total Length of Fwd Packet",
                "TotLen Fwd Pkts",
                "totlen_fwd_pkts",
            ],
        ),
        (
            "Total Length of Bwd Packets",
            C,
            &[
                "Total Length of Bwd Packet",
                "TotLen Bwd Pkts",
                "totlen_bwd_pkts",
            ],
        ),
        ("Fwd Packet Length Max", C, &["Fwd Pkt Len Max"]),
        ("Fwd Packet Length Min", C, &["Fwd Pkt Len Min"]),
        ("Fwd Packet Length Mean", C, &["Fwd Pkt Len Mean"]),
        ("Fwd Packet Length Std", C, &["Fwd Pkt Len Std"]),
        ("Bwd Packet Length Max", C, &["Bwd Pkt Len Max"]),
        ("Bwd Packet Length Min", C, &["Bwd Pkt Len Min"]),
        ("Bwd Packet Length Mean", C, &["Bwd Pkt Len Mean"]),
        ("Bwd Packet Length Std", C, &["Bwd Pkt Len Std"]),
        ("Flow Bytes/s", C, &["Flow Byts/s", "flow_byts_s"]),
        ("Flow Packets/s", C, &["Flow Pkts/s", "flow_pkts_s"]),
        ("Flow IAT Mean", C, &[]),
        ("Flow IAT Std", C, &[]),
        ("Flow IAT Max", C, &[]),
        ("Flow IAT Min", C, &[]),
        ("Fwd IAT Total", C, &["Fwd IAT Tot"]),
        ("Fwd IAT Mean", C, &[]),
        ("Fwd IAT Std", C, &[]),
        ("Fwd IAT Max", C, &[]),
        ("Fwd IAT Min", C, &[]),
        ("Bwd IAT Total", C, &["Bwd IAT Tot"]),
        ("Bwd IAT Mean", C, &[]),
        ("Bwd IAT Std", C, &[]),
        ("Bwd IAT Max", C, &[]),
        ("Bwd IAT Min", C, &[]),
        ("Fwd PSH Flags", F, &[]),
        ("Bwd PSH Flags", F, &[]),
        ("Fwd URG Flags", F, &[]),
        ("Bwd URG Flags", F, &[]),
        ("Fwd Header Length", C, &["Fwd Header Len"]),
        ("Bwd Header Length", C, &["Bwd Header Len"]),
        ("Fwd Packets/s", C, &["Fwd Pkts/s"]),
        ("Bwd Packets/s", C, &["Bwd Pkts/s"]),
        (
            "Min Packet Length",
            C,
            &["Packet Length Min", "Pkt Len Min"],
        ),
        (
            "Max Packet Length",
            C,
            &["Packet Length Max", "Pkt Len Max"],
        ),
        ("Packet Length Mean", C, &["Pkt Len Mean"]),
        ("Packet Length Std", C, &["Pkt Len Std"]),
        ("Packet Length Variance", C, &["Pkt Len Var"]),
        ("FIN Flag Count", F, &["FIN Flag Cnt"]),
        ("SYN Flag Count", F, &["SYN Flag Cnt"]),
        ("RST Flag Count", F, &["RST Flag Cnt"]),
        ("PSH Flag Count", C, &["PSH Flag Cnt"]),
        ("ACK Flag Count", C, &["ACK Flag Cnt"]),
        ("URG Flag Count", F, &["URG Flag Cnt"]),
        ("CWE Flag Count", F, &["CWR Flag Count", "CWE Flag Cnt"]),
        ("ECE Flag Count", F, &["ECE Flag Cnt"]),
        ("Down/Up Ratio", C, &[]),
        ("Average Packet Size", C, &["Pkt Size Avg"]),
        (
            "Avg Fwd Segment Size",
            C,
            &["Fwd Segment Size Avg", "Fwd Seg Size Avg"],
        ),
        (
            "Avg Bwd Segment Size",
            C,
            &["Bwd Segment Size Avg", "Bwd Seg Size Avg"],
        ),
        (
            "Fwd Avg Bytes/Bulk",
            C,
            &["Fwd Bytes/Bulk Avg", "Fwd Byts/b Avg"],
        ),
        (
            "Fwd Avg Packets/Bulk",
            C,
            &["Fwd Packet/Bulk Avg", "Fwd Pkts/b Avg"],
        ),
        (
            "Fwd Avg Bulk Rate",
            C,
            &["Fwd Bulk Rate Avg", "Fwd Blk Rate Avg"],
        ),
        (
            "Bwd Avg Bytes/Bulk",
            C,
            &["Bwd Bytes/Bulk Avg", "Bwd Byts/b Avg"],
        ),
        (
            "Bwd Avg Packets/Bulk",
            C,
            &["Bwd Packet/Bulk Avg", "Bwd Pkts/b Avg"],
        ),
        (
            "Bwd Avg Bulk Rate",
            C,
            &["Bwd Bulk Rate Avg", "Bwd Blk Rate Avg"],
        ),
        ("Subflow Fwd Packets", C, &["Subflow Fwd Pkts"]),
        ("Subflow Fwd Bytes", C, &["Subflow Fwd Byts"]),
        ("Subflow Bwd Packets", C, &["Subflow Bwd Pkts"]),
        ("Subflow Bwd Bytes", C, &["Subflow Bwd Byts"]),
        (
            "Init_Win_bytes_forward",
            C,
            &[
                "FWD Init Win Bytes",
                "Init Fwd Win Byts",
                "init_fwd_win_byts",
            ],
        ),
        (
            "Init_Win_bytes_backward",
            C,
            &[
                "Bwd Init Win Bytes",
                "Init Bwd Win Byts",
                "init_bwd_win_byts",
            ],
        ),
        (
            "act_data_pkt_fwd",
            C,
            &["Fwd Act Data Pkts", "fwd_act_data_pkts"],
        ),
        (
            "min_seg_size_forward",
            C,
            &["Fwd Seg Size Min", "fwd_seg_size_min"],
        ),
        ("Active Mean", C, &[]),
        ("Active Std", C, &[]),
        ("Active Max", C, &[]),
        ("Active Min", C, &[]),
        ("Idle Mean", C, &[]),
        ("Idle Std", C, &[]),
        ("Idle Max", C, &[]),
        ("Idle Min", C, &[]),
    ]
};

/// Features whose -1 means "not observed" rather than an error.
const SENTINEL_FEATURES: &[&str] = &[
    "Init_Win_bytes_forward",
    "Init_Win_bytes_backward",
    "min_seg_size_forward",
];

/// Features that may legitimately be negative in CIC-IDS2017 exports
/// (inter-arrival minima are written negative by clock skew); they are left
/// to the non-negative rule's report rather than being dropped.
const SIGNED_FEATURES: &[&str] = &["Flow IAT Min", "Fwd IAT Min"];

/// Extra snake_case spellings of CICFlowMeter-python that differ from the
/// canonical name by more than punctuation (`fwd_pkt_len_max` style names
/// are covered by the abbreviated aliases above once normalised).
const PY_ALIASES: &[(&str, &str)] = &[
    ("fwd_iat_tot", "Fwd IAT Total"),
    ("bwd_iat_tot", "Bwd IAT Total"),
    ("fwd_header_len", "Fwd Header Length"),
    ("bwd_header_len", "Bwd Header Length"),
    ("fwd_pkts_s", "Fwd Packets/s"),
    ("bwd_pkts_s", "Bwd Packets/s"),
    ("pkt_len_min", "Min Packet Length"),
    ("pkt_len_max", "Max Packet Length"),
    ("pkt_len_mean", "Packet Length Mean"),
    ("pkt_len_std", "Packet Length Std"),
    ("pkt_len_var", "Packet Length Variance"),
    ("fin_flag_cnt", "FIN Flag Count"),
    ("syn_flag_cnt", "SYN Flag Count"),
    ("rst_flag_cnt", "RST Flag Count"),
    ("psh_flag_cnt", "PSH Flag Count"),
    ("ack_flag_cnt", "ACK Flag Count"),
    ("urg_flag_cnt", "URG Flag Count"),
    ("ece_flag_cnt", "ECE Flag Count"),
    ("cwe_flag_count", "CWE Flag Count"),
    ("down_up_ratio", "Down/Up Ratio"),
    ("pkt_size_avg", "Average Packet Size"),
    ("fwd_seg_size_avg", "Avg Fwd Segment Size"),
    ("bwd_seg_size_avg", "Avg Bwd Segment Size"),
    ("fwd_byts_b_avg", "Fwd Avg Bytes/Bulk"),
    ("fwd_pkts_b_avg", "Fwd Avg Packets/Bulk"),
    ("fwd_blk_rate_avg", "Fwd Avg Bulk Rate"),
    ("bwd_byts_b_avg", "Bwd Avg Bytes/Bulk"),
    ("bwd_pkts_b_avg", "Bwd Avg Packets/Bulk"),
    ("bwd_blk_rate_avg", "Bwd Avg Bulk Rate"),
    ("subflow_fwd_pkts", "Subflow Fwd Packets"),
    ("subflow_fwd_byts", "Subflow Fwd Bytes"),
    ("subflow_bwd_pkts", "Subflow Bwd Packets"),
    ("subflow_bwd_byts", "Subflow Bwd Bytes"),
    ("fwd_pkt_len_max", "Fwd Packet Length Max"),
    ("fwd_pkt_len_min", "Fwd Packet Length Min"),
    ("fwd_pkt_len_mean", "Fwd Packet Length Mean"),
    ("fwd_pkt_len_std", "Fwd Packet Length Std"),
    ("bwd_pkt_len_max", "Bwd Packet Length Max"),
    ("bwd_pkt_len_min", "Bwd Packet Length Min"),
    ("bwd_pkt_len_mean", "Bwd Packet Length Mean"),
    ("bwd_pkt_len_std", "Bwd Packet Length Std"),
    ("active_mean", "Active Mean"),
    ("active_std", "Active Std"),
    ("active_max", "Active Max"),
    ("active_min", "Active Min"),
    ("idle_mean", "Idle Mean"),
    ("idle_std", "Idle Std"),
    ("idle_max", "Idle Max"),
    ("idle_min", "Idle Min"),
    ("flow_iat_mean", "Flow IAT Mean"),
    ("flow_iat_std", "Flow IAT Std"),
    ("flow_iat_max", "Flow IAT Max"),
    ("flow_iat_min", "Flow IAT Min"),
    ("fwd_iat_mean", "Fwd IAT Mean"),
    ("fwd_iat_std", "Fwd IAT Std"),
    ("fwd_iat_max", "Fwd IAT Max"),
    ("fwd_iat_min", "Fwd IAT Min"),
    ("bwd_iat_mean", "Bwd IAT Mean"),
    ("bwd_iat_std", "Bwd IAT Std"),
    ("bwd_iat_max", "Bwd IAT Max"),
    ("bwd_iat_min", "Bwd IAT Min"),
    ("fwd_psh_flags", "Fwd PSH Flags"),
    ("bwd_psh_flags", "Bwd PSH Flags"),
    ("fwd_urg_flags", "Fwd URG Flags"),
    ("bwd_urg_flags", "Bwd URG Flags"),
];

/// Look a header up in the CIC-IDS2017 alias table: the canonical feature
/// name for any known spelling, or `None`.
///
/// ```
/// assert_eq!(flowdata::cicids2017_canonical_name("Total Fwd Packet"), Some("Total Fwd Packets"));
/// assert_eq!(flowdata::cicids2017_canonical_name("tot_fwd_pkts"), Some("Total Fwd Packets"));
/// assert_eq!(flowdata::cicids2017_canonical_name(" Flow Bytes/s"), Some("Flow Bytes/s"));
/// assert_eq!(flowdata::cicids2017_canonical_name("Attempted Category"), None);
/// ```
pub fn cicids2017_canonical_name(header: &str) -> Option<&'static str> {
    let key = normalize_header(header);
    for (name, _, aliases) in CICIDS2017 {
        if normalize_header(name) == key || aliases.iter().any(|a| normalize_header(a) == key) {
            return Some(name);
        }
    }
    PY_ALIASES
        .iter()
        .find(|(alias, _)| normalize_header(alias) == key)
        .map(|(_, name)| *name)
}

impl Schema {
    /// The canonical CIC-IDS2017 schema: `Destination Port` (categorical)
    /// and the 76 distinct CICFlowMeter features of the MachineLearningCVE
    /// files (the duplicate `Fwd Header Length` is dropped), label `Label`.
    ///
    /// ```
    /// let s = flowdata::Schema::cicids2017();
    /// assert_eq!(s.n_features(), 77);
    /// assert_eq!(s.features[0].name, "Destination Port");
    /// ```
    pub fn cicids2017() -> Schema {
        let features = CICIDS2017
            .iter()
            .map(|(name, kind, _)| FeatureSpec {
                name: (*name).to_string(),
                kind: *kind,
                nonnegative: *kind != FeatureKind::Categorical
                    && !SENTINEL_FEATURES.contains(name)
                    && !SIGNED_FEATURES.contains(name),
                sentinel: SENTINEL_FEATURES.contains(name).then_some(-1.0),
            })
            .collect();
        Schema {
            name: "cicids2017".into(),
            features,
            label_column: "Label".into(),
            family_column: None,
            one_hot: Vec::new(),
            use_aliases: true,
        }
    }

    /// Number of features (matrix columns).
    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    /// Feature names in column order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// Index of a feature by canonical name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// The canonical feature name a header refers to under this schema
    /// (through the alias table when the schema uses it), if any.
    pub fn canonical_name<'a>(&'a self, header: &str) -> Option<&'a str> {
        let key = normalize_header(header);
        if let Some(f) = self
            .features
            .iter()
            .find(|f| normalize_header(&f.name) == key)
        {
            return Some(&f.name);
        }
        if self.use_aliases {
            let canonical = cicids2017_canonical_name(header)?;
            return self
                .features
                .iter()
                .find(|f| f.name == canonical)
                .map(|f| f.name.as_str());
        }
        None
    }

    /// A copy of this schema restricted to the named features (in this
    /// schema's order).
    pub fn retain_features(&self, keep: &[&str]) -> Schema {
        let mut s = self.clone();
        s.features.retain(|f| keep.contains(&f.name.as_str()));
        s
    }

    /// Write the schema as pretty JSON, atomically (temp file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io_util::write_json_atomic(path.as_ref(), self)
    }

    /// Read a schema written by [`Schema::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Schema> {
        crate::io_util::read_json(path.as_ref())
    }

    /// Check that the schema is usable: at least one feature, unique names.
    pub fn validate(&self) -> Result<()> {
        if self.features.is_empty() {
            return Err(FlowDataError::config(
                "schema",
                format!("schema '{}' has no features", self.name),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.features {
            if !seen.insert(f.name.as_str()) {
                return Err(FlowDataError::config(
                    "schema",
                    format!(
                        "feature '{}' appears twice in schema '{}'",
                        f.name, self.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_maps_to_a_distinct_canonical_feature() {
        let schema = Schema::cicids2017();
        schema.validate().unwrap();
        for (name, _, aliases) in CICIDS2017 {
            for a in *aliases {
                assert_eq!(cicids2017_canonical_name(a), Some(*name), "alias {a}");
            }
        }
        for (alias, name) in PY_ALIASES {
            assert!(schema.index_of(name).is_some(), "{name}");
            assert_eq!(
                cicids2017_canonical_name(alias),
                Some(*name),
                "alias {alias}"
            );
        }
        // Normalised keys must be unambiguous.
        let mut keys = std::collections::HashMap::new();
        for (name, _, aliases) in CICIDS2017 {
            for k in std::iter::once(name).chain(aliases.iter()) {
                if let Some(prev) = keys.insert(normalize_header(k), *name) {
                    assert_eq!(prev, *name, "key {k} is ambiguous");
                }
            }
        }
    }

    #[test]
    fn identifiers_are_recognised() {
        for h in [
            "Flow ID",
            " Source IP",
            "Src IP",
            " Destination IP",
            "Dst IP",
            " Source Port",
            "Src Port",
            " Timestamp",
            "id",
            "\u{feff}id",
        ] {
            assert!(is_identifier(h), "{h}");
        }
        assert!(!is_identifier("Dst Port"));
        assert!(!is_identifier(" Destination Port"));
        // The same set of never-feature names as before the pass-through
        // table, in every extractor's spelling.
        for h in [
            "stime", "ltime", "saddr", "daddr", "sport", "src_ip", "flow_id",
        ] {
            assert!(is_identifier(h), "{h}");
        }
        for h in ["Protocol", "proto", "dsport", "Flow Duration"] {
            assert!(!is_identifier(h), "{h}");
        }
        // Every spelling names one identifier, none a feature.
        for (i, (_, spellings)) in IDENTIFIER_SPELLINGS.iter().enumerate() {
            for s in spellings.iter().chain([&IDENTIFIER_COLUMNS[i]]) {
                assert_eq!(identifier_column(s), Some(i), "{s}");
            }
        }
        assert_eq!(
            identifier_column(" Destination Port"),
            Some(4),
            "a feature can be an identifier too"
        );
    }

    #[test]
    fn sentinels_and_signs() {
        let s = Schema::cicids2017();
        let f = &s.features[s.index_of("Init_Win_bytes_forward").unwrap()];
        assert_eq!(f.sentinel, Some(-1.0));
        assert!(!f.nonnegative);
        let d = &s.features[s.index_of("Flow Duration").unwrap()];
        assert!(d.nonnegative);
        assert_eq!(s.features[0].kind, FeatureKind::Categorical);
    }
}
