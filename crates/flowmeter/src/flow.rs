//! One flow's accumulators, updated packet by packet exactly as the
//! oracle's `BasicFlow` updates its own, in constant memory: every
//! statistic is kept as a count, an exact integer sum and sum of squares,
//! a minimum and a maximum (the oracle keeps every packet of the flow in
//! lists and streams the statistics through commons-math).

use std::net::IpAddr;

use crate::decode::{Packet, TcpFlags, protocol};

/// Count, sum, sum of squares, min and max of integer samples. Mean and
/// variance come from the exact integer sums, so they agree with the
/// oracle's Welford updates to the last few bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    n: u64,
    sum: i64,
    sum_sq: i128,
    min: i64,
    max: i64,
}

impl Stats {
    #[inline]
    pub fn add(&mut self, x: i64) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
        // Wrapping: absurd timestamps must not panic; real sums never wrap.
        self.sum = self.sum.wrapping_add(x);
        self.sum_sq = self.sum_sq.wrapping_add(i128::from(x) * i128::from(x));
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn sum(&self) -> f64 {
        self.sum as f64
    }

    pub fn min(&self) -> f64 {
        self.min as f64
    }

    pub fn max(&self) -> f64 {
        self.max as f64
    }

    /// Mean, 0 without samples.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }

    /// Sample variance (n - 1 denominator), 0 below two samples.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = i128::from(self.n);
        let sum = i128::from(self.sum);
        let exact = n
            .checked_mul(self.sum_sq)
            .and_then(|a| sum.checked_mul(sum).and_then(|b| a.checked_sub(b)));
        let numerator = match exact {
            Some(v) => v as f64,
            None => n as f64 * self.sum_sq as f64 - (sum as f64) * (sum as f64),
        };
        (numerator / (n as f64 * (n - 1) as f64)).max(0.0)
    }

    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }

    /// The union of two sample sets.
    fn merged(&self, other: &Stats) -> Stats {
        match (self.n, other.n) {
            (0, _) => *other,
            (_, 0) => *self,
            _ => Stats {
                n: self.n + other.n,
                sum: self.sum.wrapping_add(other.sum),
                sum_sq: self.sum_sq.wrapping_add(other.sum_sq),
                min: self.min.min(other.min),
                max: self.max.max(other.max),
            },
        }
    }
}

/// Bulk transfer detection of one direction (the oracle's
/// `updateForwardBulk`): four or more data packets, each within 1 s of the
/// previous one, with no data from the other direction in between.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bulk {
    /// Start of the candidate bulk, 0 when none (the oracle's sentinel).
    start: i64,
    last: i64,
    candidate_packets: i64,
    candidate_bytes: i64,
    pub bulks: i64,
    pub packets: i64,
    pub bytes: i64,
    pub duration: i64,
}

impl Bulk {
    fn update(&mut self, ts: i64, size: i64, other_last: i64) {
        if other_last > self.start {
            self.start = 0;
        }
        if size <= 0 {
            return;
        }
        if self.start == 0 || ts - self.last > 1_000_000 {
            self.start = ts;
            self.last = ts;
            self.candidate_packets = 1;
            self.candidate_bytes = size;
            return;
        }
        self.candidate_packets += 1;
        self.candidate_bytes += size;
        if self.candidate_packets == 4 {
            self.bulks += 1;
            self.packets += 4;
            self.bytes += self.candidate_bytes;
            self.duration += ts - self.start;
        } else if self.candidate_packets > 4 {
            self.packets += 1;
            self.bytes += size;
            self.duration += ts - self.last;
        }
        self.last = ts;
    }
}

/// One direction of a flow.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Direction {
    /// Payload lengths; `len.n()` is the packet count.
    pub len: Stats,
    /// Gaps between consecutive packets of this direction.
    pub iat: Stats,
    last_seen: i64,
    pub header_bytes: i64,
    pub psh: u32,
    pub urg: u32,
    pub fin: u32,
    pub rst: u32,
    /// Packets with at least one payload byte.
    pub data_packets: u32,
    /// The oracle's minimum header length: starts at 0 unless this direction
    /// sent the flow's first packet.
    pub seg_min: i64,
    /// The true minimum header length (`i64::MAX` before any packet).
    pub header_min: i64,
    pub init_win: u32,
    pub bulk: Bulk,
    pub retransmissions: u32,
}

impl Direction {
    fn count(&mut self, p: &Packet) {
        let f = p.flags;
        self.psh += u32::from(f.has(TcpFlags::PSH));
        self.urg += u32::from(f.has(TcpFlags::URG));
        self.fin += u32::from(f.has(TcpFlags::FIN));
        self.rst += u32::from(f.has(TcpFlags::RST));
        self.data_packets += u32::from(p.payload_len >= 1);
        self.header_min = self.header_min.min(i64::from(p.header_len));
    }

    pub fn packets(&self) -> u64 {
        self.len.n()
    }
}

/// The TCP teardown state of the oracle's flow generator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TcpState {
    #[default]
    Open,
    FirstFin,
    SecondFin,
    /// Closed (both FINs and the final ACK, or a RST): the next SYN of the
    /// same 5-tuple starts a new flow.
    Closed,
}

/// Everything a flow accumulates, and its identity.
#[derive(Clone, Debug)]
pub(crate) struct FlowStats {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub start: i64,
    pub last_seen: i64,
    pub fwd: Direction,
    pub bwd: Direction,
    pub iat: Stats,
    pub active: Stats,
    pub idle: Stats,
    start_active: i64,
    end_active: i64,
    /// FIN, SYN, RST, PSH, ACK, URG, CWR, ECE counts.
    pub flags: [u32; 8],
    subflow_last: i64,
    pub subflows: u32,
    pub icmp_code: i16,
    pub icmp_type: i16,
    pub connection_time: i64,
    pub tcp_state: TcpState,
    /// Report true minimum header lengths (see `MeterConfig::true_min_segment_size`).
    pub true_min_segment_size: bool,
}

/// The flag bits in the order of the `... Flag Count` columns.
pub(crate) const FLAG_ORDER: [u8; 8] = [
    TcpFlags::FIN,
    TcpFlags::SYN,
    TcpFlags::RST,
    TcpFlags::PSH,
    TcpFlags::ACK,
    TcpFlags::URG,
    TcpFlags::CWR,
    TcpFlags::ECE,
];

impl FlowStats {
    /// A flow whose forward direction is `src:src_port -> dst:dst_port`,
    /// started by `p` (which may be a backward packet: a SYN-ACK seen first).
    pub fn new(p: &Packet, src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16) -> FlowStats {
        let ts = p.timestamp_us;
        let forward = p.src == src;
        let mut flow = FlowStats {
            src,
            dst,
            src_port,
            dst_port,
            protocol: p.protocol,
            start: ts,
            last_seen: ts,
            fwd: Direction::default(),
            bwd: Direction::default(),
            iat: Stats::default(),
            active: Stats::default(),
            idle: Stats::default(),
            start_active: ts,
            end_active: ts,
            flags: [0; 8],
            subflow_last: ts,
            subflows: 0,
            icmp_code: p.icmp_code,
            icmp_type: p.icmp_type,
            connection_time: 0,
            tcp_state: TcpState::Open,
            true_min_segment_size: false,
        };
        flow.fwd.header_min = i64::MAX;
        flow.bwd.header_min = i64::MAX;
        flow.update_bulk(p, forward);
        flow.count_flags(p);
        let dir = if forward {
            &mut flow.fwd
        } else {
            &mut flow.bwd
        };
        dir.seg_min = i64::from(p.header_len);
        dir.init_win = u32::from(p.window);
        dir.len.add(i64::from(p.payload_len));
        dir.header_bytes = i64::from(p.header_len);
        dir.last_seen = ts;
        dir.count(p);
        flow
    }

    /// Whether `p` travels in the forward direction. The oracle compares
    /// source addresses only, so in a flow between two ports of one host
    /// every packet is forward.
    #[inline]
    pub fn is_forward(&self, p: &Packet) -> bool {
        p.src == self.src
    }

    /// Adds a packet after the first (the oracle's `updateActiveIdleTime`
    /// then `addPacket`).
    pub fn add(&mut self, p: &Packet, activity_timeout: i64) {
        let ts = p.timestamp_us;
        self.update_active_idle(ts, activity_timeout);
        let forward = self.is_forward(p);
        self.update_bulk(p, forward);
        // Subflows: a gap of more than 1 s starts one. (The oracle also
        // re-runs the Active/Idle update here, which cannot change anything
        // right after the update above.)
        if ts - self.subflow_last > 1_000_000 {
            self.subflows += 1;
        }
        self.subflow_last = ts;
        self.count_flags(p);
        let dir = if forward {
            &mut self.fwd
        } else {
            &mut self.bwd
        };
        dir.count(p);
        if !forward && dir.init_win == 0 {
            // The first non-zero backward window (the forward one is the
            // first packet's, only when that packet is forward).
            dir.init_win = u32::from(p.window);
        }
        dir.len.add(i64::from(p.payload_len));
        dir.header_bytes += i64::from(p.header_len);
        if dir.len.n() > 1 {
            dir.iat.add(ts - dir.last_seen);
        }
        dir.last_seen = ts;
        dir.seg_min = dir.seg_min.min(i64::from(p.header_len));
        self.iat.add(ts - self.last_seen);
        self.last_seen = ts;
    }

    fn update_active_idle(&mut self, ts: i64, threshold: i64) {
        if ts - self.end_active > threshold {
            if self.end_active - self.start_active > 0 {
                self.active.add(self.end_active - self.start_active);
            }
            self.idle.add(ts - self.end_active);
            self.start_active = ts;
        }
        self.end_active = ts;
    }

    fn update_bulk(&mut self, p: &Packet, forward: bool) {
        let size = i64::from(p.payload_len);
        let ts = p.timestamp_us;
        if forward {
            let other = self.bwd.bulk.last;
            self.fwd.bulk.update(ts, size, other);
        } else {
            let other = self.fwd.bulk.last;
            self.bwd.bulk.update(ts, size, other);
        }
    }

    fn count_flags(&mut self, p: &Packet) {
        if p.flags.0 != 0 {
            for (count, bit) in self.flags.iter_mut().zip(FLAG_ORDER) {
                *count += u32::from(p.flags.has(bit));
            }
        }
    }

    pub fn duration(&self) -> i64 {
        self.last_seen - self.start
    }

    pub fn packets(&self) -> u64 {
        self.fwd.packets() + self.bwd.packets()
    }

    /// Payload lengths of both directions.
    pub fn lengths(&self) -> Stats {
        self.fwd.len.merged(&self.bwd.len)
    }

    /// Whether the flow counts towards `Total Connection Flow Time`.
    pub fn is_tcp_or_udp(&self) -> bool {
        matches!(self.protocol, protocol::TCP | protocol::UDP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_the_textbook() {
        let mut s = Stats::default();
        for x in [2, 4, 4, 4, 5, 5, 7, 9] {
            s.add(x);
        }
        assert_eq!(s.n(), 8);
        assert_eq!(s.mean(), 5.0);
        assert!((s.variance() - 32.0 / 7.0).abs() < 1e-12);
        assert_eq!((s.min(), s.max(), s.sum()), (2.0, 9.0, 40.0));
        let mut one = Stats::default();
        one.add(-3);
        assert_eq!((one.variance(), one.std(), one.mean()), (0.0, 0.0, -3.0));
        assert_eq!(Stats::default().mean(), 0.0);
    }

    #[test]
    fn huge_values_do_not_panic() {
        let mut s = Stats::default();
        for x in [i64::MAX, i64::MIN, i64::MAX, 0] {
            s.add(x);
        }
        assert!(s.variance() >= 0.0);
    }

    #[test]
    fn bulks_need_four_data_packets_within_a_second() {
        let mut b = Bulk::default();
        for (i, ts) in [10, 20, 30, 40, 50].into_iter().enumerate() {
            b.update(ts, 100 + i as i64, 0);
        }
        assert_eq!((b.bulks, b.packets, b.bytes, b.duration), (1, 5, 510, 40));
        // Data from the other direction after the bulk started resets the candidate.
        let mut b = Bulk::default();
        b.update(10, 1, 0);
        b.update(20, 1, 0);
        b.update(30, 1, 25);
        b.update(40, 1, 25);
        assert_eq!(b.bulks, 0);
    }
}
