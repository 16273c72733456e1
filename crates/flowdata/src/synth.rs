//! A seeded generator of CIC-IDS2017-format flows.
//!
//! Each family has a profile calibrated on summary statistics of real
//! CIC-IDS2017 flows (`tools/calibrate_synth.py`): per feature the share of
//! zeros and of -1 sentinels, the location and spread of `log1p` of the
//! positive values, whether values are integers; per family four principal
//! directions of the standardised `log1p` features, which a Gaussian copula
//! turns into correlated features; and the commonest destination ports.
//! No real row is stored. Families overlap (a flow is drawn from one
//! family's profile but its spread reaches into others), so detection is
//! learnable without being trivial.
//!
//! [`write_csv`] writes the raw format with its quirks: the 79 original
//! headers with their leading spaces, `Fwd Header Length` twice, CRLF line
//! ends, `Infinity` and `NaN` rates for zero-duration flows, exact
//! duplicate rows, and the cp1252 en dash (byte 0x96) in web-attack labels.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};
use crate::frame::FlowFrame;
use crate::labels::{ClassInfo, Family};
use crate::schema::Schema;

#[derive(Deserialize)]
struct FeatureProfile {
    p_zero: f64,
    p_sentinel: f64,
    threshold: f64,
    loc: f64,
    scale: f64,
    integer: bool,
}

#[derive(Deserialize)]
struct FamilyProfile {
    features: Vec<FeatureProfile>,
    loadings: Vec<Vec<f64>>,
    ports: Vec<(u16, f64)>,
}

#[derive(Deserialize)]
struct Profiles {
    features: Vec<String>,
    components: usize,
    families: std::collections::BTreeMap<String, FamilyProfile>,
}

fn profiles() -> &'static Profiles {
    static P: OnceLock<Profiles> = OnceLock::new();
    P.get_or_init(|| {
        serde_json::from_str(include_str!("synth_profiles.json"))
            .expect("the embedded synth profiles are valid JSON")
    })
}

/// The largest `log1p` value generated (about 2.2e9, the order of the
/// largest rates in CIC-IDS2017).
const MAX_LOG1P: f64 = 21.5;

/// Settings of the generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Rows to generate (before duplicates are added by [`write_csv`]). Default 10,000.
    pub rows: usize,
    /// Seed. Default 7.
    pub seed: u64,
    /// Share of attack rows. Default 0.3.
    pub attack_fraction: f64,
    /// Attack families and their relative weights. Default: DoS, DDoS,
    /// PortScan, BruteForce, WebAttack, Bot and Infiltration.
    pub attack_mix: Vec<(Family, f64)>,
    /// Share of extra exact-duplicate rows in [`write_csv`]. Default 0.05.
    pub duplicate_fraction: f64,
    /// Share of zero-duration rows with `Infinity`/`NaN` rates in [`write_csv`]. Default 0.002.
    pub non_finite_fraction: f64,
    /// Spread multiplier of every profile: above 1 makes families overlap
    /// more (harder detection). Default 1.0.
    pub spread: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            rows: 10_000,
            seed: 7,
            attack_fraction: 0.3,
            attack_mix: vec![
                (Family::DoS, 0.25),
                (Family::DDoS, 0.2),
                (Family::PortScan, 0.2),
                (Family::BruteForce, 0.12),
                (Family::WebAttack, 0.08),
                (Family::Bot, 0.1),
                (Family::Infiltration, 0.05),
            ],
            duplicate_fraction: 0.05,
            non_finite_fraction: 0.002,
            spread: 1.0,
        }
    }
}

impl SynthConfig {
    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.attack_fraction) {
            return Err(FlowDataError::config(
                "attack_fraction",
                format!("must lie in [0, 1], got {}", self.attack_fraction),
            ));
        }
        for (f, w) in &self.attack_mix {
            if !f.is_attack() || !profiles().families.contains_key(f.name()) {
                return Err(FlowDataError::config(
                    "attack_mix",
                    format!("no attack profile for family {f}"),
                ));
            }
            if !(*w >= 0.0 && w.is_finite()) {
                return Err(FlowDataError::config(
                    "attack_mix",
                    format!("weight of {f} is {w}"),
                ));
            }
        }
        if self.attack_fraction > 0.0 && self.attack_mix.iter().map(|(_, w)| w).sum::<f64>() <= 0.0
        {
            return Err(FlowDataError::config(
                "attack_mix",
                "no attack family has a positive weight",
            ));
        }
        for (name, v) in [
            ("duplicate_fraction", self.duplicate_fraction),
            ("non_finite_fraction", self.non_finite_fraction),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(FlowDataError::config(
                    name,
                    format!("must lie in [0, 1), got {v}"),
                ));
            }
        }
        if !(self.spread > 0.0 && self.spread.is_finite()) {
            return Err(FlowDataError::config(
                "spread",
                format!("must be positive, got {}", self.spread),
            ));
        }
        Ok(())
    }
}

/// Raw labels used for each family (the spellings of the original files).
fn raw_labels(f: Family) -> &'static [&'static str] {
    match f {
        Family::Benign => &["BENIGN"],
        Family::DoS => &[
            "DoS Hulk",
            "DoS GoldenEye",
            "DoS slowloris",
            "DoS Slowhttptest",
        ],
        Family::DDoS => &["DDoS"],
        Family::PortScan => &["PortScan"],
        Family::BruteForce => &["FTP-Patator", "SSH-Patator"],
        Family::WebAttack => &[
            "Web Attack \u{2013} Brute Force",
            "Web Attack \u{2013} XSS",
            "Web Attack \u{2013} Sql Injection",
        ],
        Family::Bot => &["Bot"],
        Family::Infiltration => &["Infiltration"],
        Family::Heartbleed => &["Heartbleed"],
        Family::Other => &["Other"],
    }
}

/// One generated flow: canonical features (77, port first) and its label.
struct Flow {
    values: Vec<f32>,
    label: &'static str,
}

struct Generator<'a> {
    cfg: &'a SynthConfig,
    rng: StdRng,
    cumulative: Vec<(Family, f64)>,
}

impl Generator<'_> {
    fn new(cfg: &SynthConfig) -> Generator<'_> {
        let total: f64 = cfg.attack_mix.iter().map(|(_, w)| w).sum();
        let mut acc = 0.0;
        let cumulative = cfg
            .attack_mix
            .iter()
            .map(|(f, w)| {
                acc += w / total;
                (*f, acc)
            })
            .collect();
        Generator {
            cfg,
            rng: StdRng::seed_from_u64(cfg.seed),
            cumulative,
        }
    }

    fn family(&mut self) -> Family {
        if self.rng.random::<f64>() >= self.cfg.attack_fraction {
            return Family::Benign;
        }
        let u = self.rng.random::<f64>();
        self.cumulative
            .iter()
            .find(|(_, c)| u < *c)
            .or(self.cumulative.last())
            .map_or(Family::Benign, |(f, _)| *f)
    }

    fn flow(&mut self) -> Flow {
        let family = self.family();
        let p = &profiles().families[family.name()];
        let k = profiles().components;
        let z: Vec<f64> = (0..k).map(|_| self.rng.sample(StandardNormal)).collect();
        let mut values = Vec::with_capacity(p.features.len() + 1);
        values.push(self.port(p));
        for (fp, load) in p.features.iter().zip(&p.loadings) {
            let common: f64 = load.iter().zip(&z).map(|(l, z)| l * z).sum();
            let own = (1.0 - load.iter().map(|l| l * l).sum::<f64>())
                .max(0.0)
                .sqrt();
            let e: f64 = self.rng.sample(StandardNormal);
            let g = common + own * e;
            let v = if g < fp.threshold {
                // Below the threshold: a zero or a sentinel, in their proportions.
                let low = fp.p_zero + fp.p_sentinel;
                if low > 0.0 && self.rng.random::<f64>() * low < fp.p_sentinel {
                    -1.0
                } else {
                    0.0
                }
            } else {
                // Tails are cut at the largest magnitude CIC-IDS2017 holds
                // (rates near 2e9): real counters do not reach 1e19.
                let x = (fp.loc + fp.scale * self.cfg.spread * g)
                    .min(MAX_LOG1P)
                    .exp_m1()
                    .max(0.0);
                if fp.integer { x.round().max(1.0) } else { x }
            };
            values.push(v as f32);
        }
        let labels = raw_labels(family);
        let label = labels[self.rng.random_range(0..labels.len())];
        Flow { values, label }
    }

    fn port(&mut self, p: &FamilyProfile) -> f32 {
        let mut u = self.rng.random::<f64>();
        for (port, share) in &p.ports {
            if u < *share {
                return f32::from(*port);
            }
            u -= share;
        }
        f32::from(self.rng.random_range(1024u16..=65535))
    }
}

/// Generate a clean frame in the canonical CIC-IDS2017 schema (no
/// duplicates added, no non-finite values): what reading and cleaning a
/// file from [`write_csv`] yields, up to the rows the cleaning drops.
///
/// ```
/// use flowdata::synth::{SynthConfig, generate};
/// let frame = generate(&SynthConfig { rows: 500, seed: 1, ..Default::default() });
/// assert_eq!(frame.n_rows(), 500);
/// assert_eq!(frame.n_features(), 77);
/// assert!(frame.binary_labels().iter().any(|&y| y == 1));
/// ```
///
/// # Panics
/// On an invalid configuration (a fraction outside its range, an attack
/// family without a profile); [`try_generate`] returns the error instead.
pub fn generate(cfg: &SynthConfig) -> FlowFrame {
    try_generate(cfg).unwrap_or_else(|e| panic!("invalid synth configuration: {e}"))
}

/// [`generate`] with the configuration checked instead of trusted.
pub fn try_generate(cfg: &SynthConfig) -> Result<FlowFrame> {
    cfg.validate()?;
    let schema = Schema::cicids2017();
    debug_assert_eq!(profiles().features.len() + 1, schema.n_features());
    let nf = schema.n_features();
    let mut gen_ = Generator::new(cfg);
    let mut values = Vec::with_capacity(cfg.rows * nf);
    let mut classes: Vec<ClassInfo> = Vec::new();
    let mut ids = Vec::with_capacity(cfg.rows);
    for _ in 0..cfg.rows {
        let flow = gen_.flow();
        values.extend_from_slice(&flow.values);
        ids.push(crate::frame::intern_class(
            &mut classes,
            &ClassInfo::from_label(flow.label),
        ));
    }
    let x = Array2::from_shape_vec((cfg.rows, nf), values)
        .map_err(|e| FlowDataError::Shape(e.to_string()))?;
    FlowFrame::new(schema, x, ids, classes)
}

/// What [`write_csv`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthSummary {
    /// Data rows written (generated rows plus duplicates).
    pub rows_written: usize,
    /// Exact duplicates of earlier rows among them.
    pub duplicates: usize,
    /// Rows with `Infinity` or `NaN` rates.
    pub non_finite: usize,
    /// Rows per family.
    pub families: std::collections::BTreeMap<String, usize>,
}

/// The 14 original headers written without a leading space.
const NO_LEADING_SPACE: [&str; 14] = [
    "Total Length of Fwd Packets",
    "Bwd Packet Length Max",
    "Flow Bytes/s",
    "Fwd IAT Total",
    "Bwd IAT Total",
    "Fwd PSH Flags",
    "Fwd Packets/s",
    "FIN Flag Count",
    "Fwd Avg Bytes/Bulk",
    "Bwd Avg Bulk Rate",
    "Subflow Fwd Packets",
    "Init_Win_bytes_forward",
    "Active Mean",
    "Idle Mean",
];

/// The original 79 headers, with their leading spaces and the duplicate.
fn original_header() -> String {
    let schema = Schema::cicids2017();
    let mut cols: Vec<String> = schema
        .features
        .iter()
        .map(|f| format!(" {}", f.name))
        .collect();
    // The original files start "Destination Port" with a space too, and
    // write "Fwd Header Length" a second time after "Avg Bwd Segment Size".
    let pos = schema
        .index_of("Avg Bwd Segment Size")
        .expect("canonical feature")
        + 1;
    cols.insert(pos, " Fwd Header Length".into());
    for c in cols.iter_mut() {
        if NO_LEADING_SPACE.contains(&c.trim_start()) {
            *c = c.trim_start().to_string();
        }
    }
    cols.push(" Label".into());
    cols.join(",")
}

/// Write generated flows in the raw CIC-IDS2017 format to a writer.
pub fn write_csv_to(cfg: &SynthConfig, out: &mut impl Write) -> Result<SynthSummary> {
    cfg.validate()?;
    let io = |e| FlowDataError::io("<synth output>", e);
    let schema = Schema::cicids2017();
    let dup_at = schema
        .index_of("Avg Bwd Segment Size")
        .expect("canonical feature")
        + 1;
    let fhl = schema
        .index_of("Fwd Header Length")
        .expect("canonical feature");
    let duration = schema.index_of("Flow Duration").expect("canonical feature");
    let rates = [
        schema.index_of("Flow Bytes/s").expect("canonical feature"),
        schema
            .index_of("Flow Packets/s")
            .expect("canonical feature"),
    ];
    write!(out, "{}\r\n", original_header()).map_err(io)?;
    let mut gen_ = Generator::new(cfg);
    let mut dup_rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed_d0b1_e5ca_1ab5);
    let mut summary = SynthSummary::default();
    let mut recent: Vec<Vec<u8>> = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut generated = 0usize;
    while generated < cfg.rows {
        if !recent.is_empty() && dup_rng.random::<f64>() < cfg.duplicate_fraction {
            let i = dup_rng.random_range(0..recent.len());
            out.write_all(&recent[i]).map_err(io)?;
            summary.duplicates += 1;
            summary.rows_written += 1;
            continue;
        }
        let mut flow = gen_.flow();
        let non_finite = dup_rng.random::<f64>() < cfg.non_finite_fraction;
        if non_finite {
            flow.values[duration] = 0.0;
        }
        line.clear();
        for (j, &v) in flow.values.iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            if non_finite && rates.contains(&j) {
                line.extend_from_slice(if j == rates[0] { b"NaN" } else { b"Infinity" });
            } else {
                write_number(&mut line, v);
            }
            if j + 1 == dup_at {
                line.push(b',');
                write_number(&mut line, flow.values[fhl]);
            }
        }
        line.push(b',');
        line.extend_from_slice(&encode_cp1252(flow.label));
        line.extend_from_slice(b"\r\n");
        out.write_all(&line).map_err(io)?;
        if recent.len() < 256 {
            recent.push(line.clone());
        } else {
            let i = dup_rng.random_range(0..recent.len());
            recent[i].clone_from(&line);
        }
        *summary
            .families
            .entry(Family::from_label(flow.label).name().to_string())
            .or_insert(0) += 1;
        summary.non_finite += usize::from(non_finite);
        summary.rows_written += 1;
        generated += 1;
    }
    Ok(summary)
}

/// Write generated flows in the raw CIC-IDS2017 format to a file
/// (atomically: temp file + rename).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("flows.csv");
/// let cfg = flowdata::synth::SynthConfig { rows: 300, ..Default::default() };
/// let summary = flowdata::synth::write_csv(&cfg, &path).unwrap();
/// let (frame, report) = flowdata::read_flows(&[&path], &flowdata::ReadOptions::default()).unwrap();
/// assert_eq!(report.rows_read() as usize, summary.rows_written);
/// assert!(frame.n_rows() <= 300);
/// ```
pub fn write_csv(cfg: &SynthConfig, path: impl AsRef<Path>) -> Result<SynthSummary> {
    let mut summary = SynthSummary::default();
    crate::io_util::write_atomic(path.as_ref(), |w| {
        summary = write_csv_to(cfg, w)?;
        Ok(())
    })?;
    Ok(summary)
}

fn write_number(out: &mut Vec<u8>, v: f32) {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Encode a label as the original files do: the en dash as byte 0x96.
fn encode_cp1252(label: &str) -> Vec<u8> {
    label
        .chars()
        .flat_map(|c| match c {
            '\u{2013}' => vec![0x96],
            c => c.to_string().into_bytes(),
        })
        .collect()
}
