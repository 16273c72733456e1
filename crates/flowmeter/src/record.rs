//! A finished flow and its columns: the identifiers, the 86 features under
//! the oracle's header names, and the label. [`FEATURES`] is the one
//! definition of every feature: its name, its type and how it is computed.

use std::fmt;
use std::net::IpAddr;

use crate::flow::{Direction, FlowStats, Stats};
use crate::text;

/// Which identifier columns are text (the others are integers).
pub(crate) const IDENTIFIER_IS_TEXT: [bool; 7] = [true, true, false, true, false, false, true];

/// The identifier columns, first in every output.
pub const IDENTIFIERS: [&str; 7] = [
    "Flow ID",
    "Src IP",
    "Src Port",
    "Dst IP",
    "Dst Port",
    "Protocol",
    "Timestamp",
];

/// The label column's name, last in every output that has one.
pub const LABEL: &str = "Label";

/// The label the oracle writes in every row.
pub const ORACLE_LABEL: &str = "NeedManualLabel";

/// A feature's value: integers where the oracle writes integers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FeatureValue {
    /// A count, a length in bytes or a duration in microseconds.
    Int(i64),
    /// A mean, a standard deviation, a rate or a ratio.
    Float(f64),
}

impl FeatureValue {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            FeatureValue::Int(v) => v as f64,
            FeatureValue::Float(v) => v,
        }
    }
}

/// The type of a feature column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    /// Written as an integer.
    Int,
    /// Written as a float.
    Float,
}

#[derive(Clone, Copy)]
enum Getter {
    Int(fn(&FlowStats) -> i64),
    Float(fn(&FlowStats) -> f64),
}

/// One feature column: its header name and how it is computed.
#[derive(Clone, Copy)]
pub struct Feature {
    name: &'static str,
    get: Getter,
}

impl Feature {
    /// The oracle's header name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Integer or float.
    pub fn kind(&self) -> FeatureKind {
        match self.get {
            Getter::Int(_) => FeatureKind::Int,
            Getter::Float(_) => FeatureKind::Float,
        }
    }

    fn value(&self, flow: &FlowStats) -> FeatureValue {
        match self.get {
            Getter::Int(f) => FeatureValue::Int(f(flow)),
            Getter::Float(f) => FeatureValue::Float(f(flow)),
        }
    }
}

impl fmt::Debug for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.name, self.kind())
    }
}

const fn int(name: &'static str, get: fn(&FlowStats) -> i64) -> Feature {
    Feature {
        name,
        get: Getter::Int(get),
    }
}

const fn float(name: &'static str, get: fn(&FlowStats) -> f64) -> Feature {
    Feature {
        name,
        get: Getter::Float(get),
    }
}

/// Per second over the flow duration; -1 for a zero duration (`Flow Bytes/s`
/// and `Flow Packets/s`, as the oracle writes them).
fn flow_rate(count: f64, f: &FlowStats) -> f64 {
    let duration = f.duration();
    if duration != 0 {
        count / (duration as f64 / 1e6)
    } else {
        -1.0
    }
}

/// Per second over the flow duration; 0 unless the duration is positive.
fn direction_rate(count: u64, f: &FlowStats) -> f64 {
    let duration = f.duration();
    if duration > 0 {
        count as f64 / (duration as f64 / 1e6)
    } else {
        0.0
    }
}

/// A direction's length statistic, 0 when it has no packet.
fn len_stat(d: &Direction, get: fn(&Stats) -> f64) -> f64 {
    if d.packets() > 0 { get(&d.len) } else { 0.0 }
}

/// A direction's gap statistic, 0 unless it has two packets.
fn iat_stat(d: &Direction, get: fn(&Stats) -> f64) -> f64 {
    if d.packets() > 1 { get(&d.iat) } else { 0.0 }
}

fn per_bulk(d: &Direction, total: i64) -> f64 {
    if d.bulk.bulks != 0 {
        total as f64 / d.bulk.bulks as f64
    } else {
        0.0
    }
}

fn bulk_rate(d: &Direction) -> f64 {
    if d.bulk.duration != 0 {
        d.bulk.bytes as f64 / (d.bulk.duration as f64 / 1e6)
    } else {
        0.0
    }
}

fn per_subflow(f: &FlowStats, total: f64) -> f64 {
    if f.subflows > 0 {
        total / f64::from(f.subflows)
    } else {
        0.0
    }
}

fn average(total: f64, count: u64) -> f64 {
    if count > 0 { total / count as f64 } else { 0.0 }
}

fn seg_min(f: &FlowStats, d: &Direction) -> i64 {
    if f.true_min_segment_size {
        if d.packets() > 0 { d.header_min } else { 0 }
    } else {
        d.seg_min
    }
}

/// The 86 features, in the oracle's column order, under its names.
pub static FEATURES: [Feature; 86] = [
    int("Flow Duration", |f| f.duration()),
    int("Total Fwd Packet", |f| f.fwd.packets() as i64),
    int("Total Bwd packets", |f| f.bwd.packets() as i64),
    float("Total Length of Fwd Packet", |f| f.fwd.len.sum()),
    float("Total Length of Bwd Packet", |f| f.bwd.len.sum()),
    float("Fwd Packet Length Max", |f| len_stat(&f.fwd, Stats::max)),
    float("Fwd Packet Length Min", |f| len_stat(&f.fwd, Stats::min)),
    float("Fwd Packet Length Mean", |f| len_stat(&f.fwd, Stats::mean)),
    float("Fwd Packet Length Std", |f| len_stat(&f.fwd, Stats::std)),
    float("Bwd Packet Length Max", |f| len_stat(&f.bwd, Stats::max)),
    float("Bwd Packet Length Min", |f| len_stat(&f.bwd, Stats::min)),
    float("Bwd Packet Length Mean", |f| len_stat(&f.bwd, Stats::mean)),
    float("Bwd Packet Length Std", |f| len_stat(&f.bwd, Stats::std)),
    float("Flow Bytes/s", |f| {
        flow_rate(f.fwd.len.sum() + f.bwd.len.sum(), f)
    }),
    float("Flow Packets/s", |f| flow_rate(f.packets() as f64, f)),
    float("Flow IAT Mean", |f| f.iat.mean()),
    float("Flow IAT Std", |f| f.iat.std()),
    float("Flow IAT Max", |f| {
        if f.iat.n() > 0 { f.iat.max() } else { 0.0 }
    }),
    float("Flow IAT Min", |f| {
        if f.iat.n() > 0 { f.iat.min() } else { 0.0 }
    }),
    float("Fwd IAT Total", |f| iat_stat(&f.fwd, Stats::sum)),
    float("Fwd IAT Mean", |f| iat_stat(&f.fwd, Stats::mean)),
    float("Fwd IAT Std", |f| iat_stat(&f.fwd, Stats::std)),
    float("Fwd IAT Max", |f| iat_stat(&f.fwd, Stats::max)),
    float("Fwd IAT Min", |f| iat_stat(&f.fwd, Stats::min)),
    float("Bwd IAT Total", |f| iat_stat(&f.bwd, Stats::sum)),
    float("Bwd IAT Mean", |f| iat_stat(&f.bwd, Stats::mean)),
    float("Bwd IAT Std", |f| iat_stat(&f.bwd, Stats::std)),
    float("Bwd IAT Max", |f| iat_stat(&f.bwd, Stats::max)),
    float("Bwd IAT Min", |f| iat_stat(&f.bwd, Stats::min)),
    int("Fwd PSH Flags", |f| i64::from(f.fwd.psh)),
    int("Bwd PSH Flags", |f| i64::from(f.bwd.psh)),
    int("Fwd URG Flags", |f| i64::from(f.fwd.urg)),
    int("Bwd URG Flags", |f| i64::from(f.bwd.urg)),
    int("Fwd RST Flags", |f| i64::from(f.fwd.rst)),
    int("Bwd RST Flags", |f| i64::from(f.bwd.rst)),
    int("Fwd Header Length", |f| f.fwd.header_bytes),
    int("Bwd Header Length", |f| f.bwd.header_bytes),
    float("Fwd Packets/s", |f| direction_rate(f.fwd.packets(), f)),
    float("Bwd Packets/s", |f| direction_rate(f.bwd.packets(), f)),
    float("Packet Length Min", |f| f.lengths().min()),
    float("Packet Length Max", |f| f.lengths().max()),
    float("Packet Length Mean", |f| f.lengths().mean()),
    float("Packet Length Std", |f| f.lengths().std()),
    float("Packet Length Variance", |f| f.lengths().variance()),
    int("FIN Flag Count", |f| i64::from(f.flags[0])),
    int("SYN Flag Count", |f| i64::from(f.flags[1])),
    int("RST Flag Count", |f| i64::from(f.flags[2])),
    int("PSH Flag Count", |f| i64::from(f.flags[3])),
    int("ACK Flag Count", |f| i64::from(f.flags[4])),
    int("URG Flag Count", |f| i64::from(f.flags[5])),
    int("CWR Flag Count", |f| i64::from(f.flags[6])),
    int("ECE Flag Count", |f| i64::from(f.flags[7])),
    float("Down/Up Ratio", |f| {
        average(f.bwd.packets() as f64, f.fwd.packets())
    }),
    float("Average Packet Size", |f| {
        average(f.lengths().sum(), f.packets())
    }),
    float("Fwd Segment Size Avg", |f| {
        average(f.fwd.len.sum(), f.fwd.packets())
    }),
    float("Bwd Segment Size Avg", |f| {
        average(f.bwd.len.sum(), f.bwd.packets())
    }),
    float("Fwd Bytes/Bulk Avg", |f| per_bulk(&f.fwd, f.fwd.bulk.bytes)),
    float("Fwd Packet/Bulk Avg", |f| {
        per_bulk(&f.fwd, f.fwd.bulk.packets)
    }),
    float("Fwd Bulk Rate Avg", |f| bulk_rate(&f.fwd)),
    float("Bwd Bytes/Bulk Avg", |f| per_bulk(&f.bwd, f.bwd.bulk.bytes)),
    float("Bwd Packet/Bulk Avg", |f| {
        per_bulk(&f.bwd, f.bwd.bulk.packets)
    }),
    float("Bwd Bulk Rate Avg", |f| bulk_rate(&f.bwd)),
    float("Subflow Fwd Packets", |f| {
        per_subflow(f, f.fwd.packets() as f64)
    }),
    float("Subflow Fwd Bytes", |f| per_subflow(f, f.fwd.len.sum())),
    float("Subflow Bwd Packets", |f| {
        per_subflow(f, f.bwd.packets() as f64)
    }),
    float("Subflow Bwd Bytes", |f| per_subflow(f, f.bwd.len.sum())),
    int("FWD Init Win Bytes", |f| i64::from(f.fwd.init_win)),
    int("Bwd Init Win Bytes", |f| i64::from(f.bwd.init_win)),
    int("Fwd Act Data Pkts", |f| i64::from(f.fwd.data_packets)),
    int("Bwd Act Data Pkts", |f| i64::from(f.bwd.data_packets)),
    int("Fwd Seg Size Min", |f| seg_min(f, &f.fwd)),
    int("Bwd Seg Size Min", |f| seg_min(f, &f.bwd)),
    float("Active Mean", |f| f.active.mean()),
    float("Active Std", |f| f.active.std()),
    float("Active Max", |f| {
        if f.active.n() > 0 {
            f.active.max()
        } else {
            0.0
        }
    }),
    float("Active Min", |f| {
        if f.active.n() > 0 {
            f.active.min()
        } else {
            0.0
        }
    }),
    float("Idle Mean", |f| f.idle.mean()),
    float("Idle Std", |f| f.idle.std()),
    float(
        "Idle Max",
        |f| if f.idle.n() > 0 { f.idle.max() } else { 0.0 },
    ),
    float(
        "Idle Min",
        |f| if f.idle.n() > 0 { f.idle.min() } else { 0.0 },
    ),
    int("ICMP Code", |f| i64::from(f.icmp_code)),
    int("ICMP Type", |f| i64::from(f.icmp_type)),
    int("Fwd TCP Retrans. Count", |f| {
        i64::from(f.fwd.retransmissions)
    }),
    int("Bwd TCP Retrans. Count", |f| {
        i64::from(f.bwd.retransmissions)
    }),
    int("Total TCP Retrans. Count", |f| {
        i64::from(f.fwd.retransmissions) + i64::from(f.bwd.retransmissions)
    }),
    int("Total Connection Flow Time", |f| f.connection_time),
];

/// The position of a feature in [`FEATURES`], by its oracle header name.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

/// A flow that has ended: its identifiers and everything needed to compute
/// its features. Features are computed when asked for.
#[derive(Clone, Debug)]
pub struct FlowRecord {
    /// The `Flow ID` endpoints, in the orientation of the first flow of this
    /// 5-tuple.
    id: (IpAddr, u16, IpAddr, u16),
    pub(crate) stats: FlowStats,
}

impl FlowRecord {
    pub(crate) fn new(id: (IpAddr, u16, IpAddr, u16), stats: FlowStats) -> FlowRecord {
        FlowRecord { id, stats }
    }

    /// The forward direction's sender (the sender of the flow's first packet,
    /// or its receiver when that packet was a SYN-ACK).
    pub fn src(&self) -> IpAddr {
        self.stats.src
    }

    /// The forward direction's source port.
    pub fn src_port(&self) -> u16 {
        self.stats.src_port
    }

    /// The forward direction's receiver.
    pub fn dst(&self) -> IpAddr {
        self.stats.dst
    }

    /// The forward direction's destination port.
    pub fn dst_port(&self) -> u16 {
        self.stats.dst_port
    }

    /// The `Protocol` column (6 TCP, 17 UDP, 1 ICMP, 2 IGMP, 132 SCTP, 58
    /// ICMPv6, 0 anything else).
    pub fn protocol(&self) -> u8 {
        self.stats.protocol
    }

    /// The first packet's time, microseconds since the Unix epoch.
    pub fn start_us(&self) -> i64 {
        self.stats.start
    }

    /// The last packet's time, microseconds since the Unix epoch.
    pub fn end_us(&self) -> i64 {
        self.stats.last_seen
    }

    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.stats.packets()
    }

    /// The `Flow ID` column: `A-B-portA-portB-protocol`, with A the sender of
    /// the first packet ever seen for this 5-tuple in the capture. A later
    /// flow of the same 5-tuple keeps that orientation even when its own
    /// first packet came from B.
    pub fn flow_id(&self) -> String {
        let mut row = text::Row::default();
        self.write_flow_id(&mut row);
        row.as_str().to_string()
    }

    pub(crate) fn write_flow_id(&self, row: &mut text::Row) {
        let (a, a_port, b, b_port) = &self.id;
        row.ip(a);
        row.byte(b'-');
        row.ip(b);
        row.byte(b'-');
        row.uint(u64::from(*a_port));
        row.byte(b'-');
        row.uint(u64::from(*b_port));
        row.byte(b'-');
        row.uint(u64::from(self.stats.protocol));
    }

    /// Writes identifier column `index` of [`IDENTIFIERS`] (unquoted).
    pub(crate) fn write_identifier(&self, index: usize, row: &mut text::Row) {
        let s = &self.stats;
        match index {
            0 => self.write_flow_id(row),
            1 => row.ip(&s.src),
            2 => row.uint(u64::from(s.src_port)),
            3 => row.ip(&s.dst),
            4 => row.uint(u64::from(s.dst_port)),
            5 => row.uint(u64::from(s.protocol)),
            _ => row.timestamp(s.start),
        }
    }

    /// The `Timestamp` column: the first packet's time in UTC as the oracle
    /// writes it (see [`format_timestamp`](crate::format_timestamp)).
    pub fn timestamp(&self) -> String {
        crate::format_timestamp(self.stats.start)
    }

    /// The value of feature `index` of [`FEATURES`].
    ///
    /// # Panics
    /// When `index >= FEATURES.len()`.
    pub fn feature(&self, index: usize) -> FeatureValue {
        FEATURES[index].value(&self.stats)
    }

    /// Every feature, in column order, with its name.
    pub fn features(&self) -> impl Iterator<Item = (&'static str, FeatureValue)> + '_ {
        FEATURES.iter().map(|f| (f.name, f.value(&self.stats)))
    }

    /// Every feature as an `f32`, in column order, into `out` (cleared
    /// first): the vector a detector scores.
    pub fn features_f32(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend(
            FEATURES
                .iter()
                .map(|f| f.value(&self.stats).as_f64() as f32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_features_follow_the_identifiers() {
        let mut names: Vec<&str> = IDENTIFIERS.to_vec();
        names.extend(FEATURES.iter().map(|f| f.name()));
        names.push(LABEL);
        assert_eq!(names.len(), 94, "the oracle writes 94 columns");
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "no name twice");
        assert_eq!(feature_index("Flow Duration"), Some(0));
        assert_eq!(feature_index("Total Connection Flow Time"), Some(85));
        assert_eq!(feature_index("Label"), None);
    }
}
