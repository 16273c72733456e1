//! The flow table: packets in, finished flows out, as soon as they are
//! final.
//!
//! The oracle keeps every flow in memory until the end of the capture and
//! ends a flow only when the next packet of its 5-tuple arrives (after the
//! flow timeout, or a SYN after the connection closed). A flow is final
//! earlier than that: once packet time has passed its first packet plus the
//! flow timeout, no later packet can join it. The meter emits it then, and
//! keeps a few bytes per 5-tuple (the connection's orientation, its
//! `Flow ID` orientation, its cumulated time and, for TCP, the segments seen
//! for retransmission counting) so that a later packet of the same 5-tuple
//! starts the next flow exactly as the oracle would.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::IpAddr;

use hashbrown::{HashMap, HashSet};

use crate::config::{MeterConfig, micros};
use crate::decode::{self, FragmentId, LinkType, Packet, TcpFlags, protocol};
use crate::error::Error;
use crate::flow::{FlowStats, TcpState};
use crate::record::FlowRecord;
use crate::sink::FlowSink;
use crate::summary::CaptureSummary;

/// A 5-tuple with its endpoints in a canonical order (`lo` sorts before
/// `hi`), so that both directions find the same entry with one lookup.
/// Addresses are integers (IPv4 in the low 32 bits, `v6` telling them
/// apart) so that comparing and hashing a key is a few word operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FlowKey {
    lo: [u64; 2],
    hi: [u64; 2],
    lo_port: u16,
    hi_port: u16,
    protocol: u8,
    v6: bool,
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.lo[0]);
        state.write_u64(self.lo[1]);
        state.write_u64(self.hi[0]);
        state.write_u64(self.hi[1]);
        state.write_u64(
            (u64::from(self.lo_port) << 32)
                | (u64::from(self.hi_port) << 16)
                | (u64::from(self.protocol) << 8)
                | u64::from(self.v6),
        );
    }
}

/// An address as two words (IPv4 in the low one), compared and hashed as
/// integers; 8-byte aligned so that keys stay small.
fn ip_bits(ip: &IpAddr) -> [u64; 2] {
    match ip {
        IpAddr::V4(v4) => [0, u64::from(u32::from(*v4))],
        IpAddr::V6(v6) => {
            let bits = u128::from(*v6);
            [(bits >> 64) as u64, bits as u64]
        }
    }
}

impl FlowKey {
    /// The key of a packet, and whether the packet's source is `lo`.
    #[inline]
    fn of(p: &Packet) -> (FlowKey, bool) {
        let (src, dst) = (ip_bits(&p.src), ip_bits(&p.dst));
        let src_is_lo = (src, p.src_port) <= (dst, p.dst_port);
        let (lo, lo_port, hi, hi_port) = if src_is_lo {
            (src, p.src_port, dst, p.dst_port)
        } else {
            (dst, p.dst_port, src, p.src_port)
        };
        let key = FlowKey {
            lo,
            hi,
            lo_port,
            hi_port,
            protocol: p.protocol,
            v6: p.src.is_ipv6(),
        };
        (key, src_is_lo)
    }

    fn ip(&self, bits: [u64; 2]) -> IpAddr {
        if self.v6 {
            IpAddr::from(((u128::from(bits[0]) << 64) | u128::from(bits[1])).to_be_bytes())
        } else {
            IpAddr::from((bits[1] as u32).to_be_bytes())
        }
    }

    /// The endpoints with `lo` first or second.
    fn oriented(&self, lo_first: bool) -> (IpAddr, u16, IpAddr, u16) {
        let (lo, hi) = (self.ip(self.lo), self.ip(self.hi));
        if lo_first {
            (lo, self.lo_port, hi, self.hi_port)
        } else {
            (hi, self.hi_port, lo, self.lo_port)
        }
    }

    /// Whether `(ip, port)` is the `lo` endpoint.
    fn is_lo(&self, ip: &IpAddr, port: u16) -> bool {
        (ip_bits(ip), port) == (self.lo, self.lo_port)
    }
}

/// Retransmission counting for one connection.
#[derive(Debug)]
enum Retransmissions {
    /// The oracle's rule: a segment repeating (direction, sequence,
    /// acknowledgement, payload length, window) of an earlier one.
    Repeats(Seen),
    /// Data (or SYN/FIN) whose sequence range ends at or before the highest
    /// one already sent in its direction (forward, backward).
    Strict([Option<u32>; 2]),
}

/// The segments of a connection, as 113-bit keys: a short list searched
/// linearly (most flows have few packets), a hash set beyond.
#[derive(Debug)]
enum Seen {
    Few(Vec<u128>),
    Many(HashSet<u128>),
}

/// Keys kept in a list before moving to a hash set.
const FEW_SEGMENTS: usize = 16;

impl Seen {
    /// Records `key`; whether it was new.
    #[inline]
    fn insert(&mut self, key: u128) -> bool {
        match self {
            Seen::Few(list) => {
                if list.contains(&key) {
                    return false;
                }
                if list.len() < FEW_SEGMENTS {
                    list.push(key);
                } else {
                    let mut set: HashSet<u128> = HashSet::with_capacity(4 * FEW_SEGMENTS);
                    set.extend(list.iter().copied());
                    set.insert(key);
                    *self = Seen::Many(set);
                }
                true
            }
            Seen::Many(set) => set.insert(key),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Seen::Few(list) => list.capacity() * size_of::<u128>(),
            Seen::Many(set) => set.allocation_size(),
        }
    }
}

impl Retransmissions {
    fn new(strict: bool) -> Retransmissions {
        if strict {
            Retransmissions::Strict([None; 2])
        } else {
            Retransmissions::Repeats(Seen::Few(Vec::new()))
        }
    }

    /// Whether `p` is a retransmission; records it either way.
    #[inline]
    fn check(&mut self, p: &Packet, forward: bool) -> bool {
        match self {
            Retransmissions::Repeats(seen) => {
                let key = (u128::from(forward) << 112)
                    | (u128::from(p.seq) << 80)
                    | (u128::from(p.ack) << 48)
                    | (u128::from(p.payload_len) << 16)
                    | u128::from(p.window);
                !seen.insert(key)
            }
            Retransmissions::Strict(highest) => {
                let len = p.payload_len
                    + u32::from(p.flags.has(TcpFlags::SYN))
                    + u32::from(p.flags.has(TcpFlags::FIN));
                if len == 0 {
                    return false;
                }
                let end = p.seq.wrapping_add(len);
                let slot = &mut highest[usize::from(!forward)];
                match *slot {
                    Some(high) if end.wrapping_sub(high) as i32 <= 0 => true,
                    _ => {
                        *slot = Some(end);
                        false
                    }
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Retransmissions::Repeats(seen) => seen.heap_bytes(),
            Retransmissions::Strict(_) => 0,
        }
    }
}

/// A flow being metered.
#[derive(Debug)]
struct Live {
    stats: FlowStats,
    retransmissions: Retransmissions,
}

impl Live {
    fn add(&mut self, p: &Packet, activity_timeout: i64) {
        self.stats.add(p, activity_timeout);
        if self.stats.protocol == protocol::TCP {
            let forward = self.stats.is_forward(p);
            if self.retransmissions.check(p, forward) {
                bump(&mut self.stats, forward);
            }
        }
    }
}

fn bump(stats: &mut FlowStats, forward: bool) {
    let dir = if forward {
        &mut stats.fwd
    } else {
        &mut stats.bwd
    };
    dir.retransmissions += 1;
}

/// What the oracle still knows of a 5-tuple whose flow has ended.
#[derive(Debug)]
struct Ended {
    /// The ended flow's forward sender is the key's `lo` endpoint.
    forward_is_lo: bool,
    closed: bool,
    start: i64,
    last_seen: i64,
    /// `Total Connection Flow Time` of the ended flow.
    connection_time: i64,
    retransmissions: Retransmissions,
    /// Ended by its flow timeout (not by a SYN after closing, nor an ICMP
    /// type change, nor by [`MeterConfig::emit_closed_after`]).
    timed_out: bool,
}

#[derive(Debug)]
enum State {
    Live(Box<Live>),
    Ended(Ended),
}

#[derive(Debug)]
struct Slot {
    /// The `Flow ID` starts with the key's `lo` endpoint.
    id_lo_first: bool,
    /// Changes whenever the state changes; stale wake-ups are ignored.
    version: u64,
    state: State,
}

/// When to look at an entry again (packet time).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct WakeUp {
    at: i64,
    version: u64,
    key: FlowKey,
}

/// Wake-ups by time: a queue for those scheduled in time order (the flow
/// timeouts of a capture in time order: constant time each) and a heap for
/// the others (disordered captures, closed-flow and forget delays).
#[derive(Debug, Default)]
struct Timers {
    queue: VecDeque<WakeUp>,
    heap: BinaryHeap<Reverse<WakeUp>>,
    /// Off with [`MeterConfig::keep_until_end`]: nothing is scheduled.
    off: bool,
}

impl Timers {
    fn push(&mut self, wake: WakeUp) {
        if self.off {
            return;
        }
        if self.queue.back().is_none_or(|last| last.at <= wake.at) {
            self.queue.push_back(wake);
        } else {
            self.heap.push(Reverse(wake));
        }
    }

    /// The earliest wake-up due before `now`, if any.
    fn pop_due(&mut self, now: i64) -> Option<WakeUp> {
        let queued = self.queue.front().map(|w| w.at);
        let heaped = self.heap.peek().map(|w| w.0.at);
        match (queued, heaped) {
            (Some(q), h) if q < now && h.is_none_or(|h| q <= h) => self.queue.pop_front(),
            (_, Some(h)) if h < now => self.heap.pop().map(|w| w.0),
            _ => None,
        }
    }

    fn heap_bytes(&self) -> usize {
        (self.queue.capacity() + self.heap.capacity()) * size_of::<WakeUp>()
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.heap.clear();
    }
}

/// What a packet does to a live flow.
enum Step {
    Added,
    /// The flow ends before this packet (timeout, or SYN after close).
    Ends,
    /// An ICMP packet whose type and code both differ ends the flow.
    IcmpChange,
}

/// The streaming flow meter: push packets (or raw frames) in capture order,
/// receive finished flows in a [`FlowSink`] as soon as they are final, and
/// [`finish`](FlowMeter::finish) at the end of input.
///
/// ```
/// use flowmeter::{FlowMeter, MeterConfig, Packet, TcpFlags, protocol};
///
/// let mut meter = FlowMeter::new(MeterConfig::default()).unwrap();
/// let mut flows = Vec::new();
/// let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
/// let mut syn = Packet::new(1_000_000, a, b, protocol::TCP);
/// (syn.src_port, syn.dst_port, syn.header_len, syn.flags) = (40000, 80, 20, TcpFlags(TcpFlags::SYN));
/// meter.push_packet(&syn, &mut flows).unwrap();
/// meter.finish(&mut flows).unwrap();
/// assert_eq!(flows.len(), 1);
/// assert_eq!(flows[0].flow_id(), "10.0.0.1-10.0.0.2-40000-80-6");
/// ```
#[derive(Debug)]
pub struct FlowMeter {
    table: HashMap<FlowKey, Slot>,
    core: Core,
}

/// Everything but the table, so that a slot of the table and the rest can
/// be borrowed at once (one lookup per packet).
#[derive(Debug)]
struct Core {
    config: MeterConfig,
    flow_timeout: i64,
    activity_timeout: i64,
    emit_closed_after: Option<i64>,
    forget_after: Option<i64>,
    wake_ups: Timers,
    /// The latest packet time seen: time only moves forward.
    now: Option<i64>,
    next_version: u64,
    /// First fragments' ports, for [`MeterConfig::attribute_fragments`].
    fragments: HashMap<FragmentId, (u16, u16, u8, i64)>,
    summary: CaptureSummary,
    /// Blocks of ended flows, reused for new ones: the boxes themselves,
    /// which move into and out of the table without a new allocation.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Live>>,
}

/// Timestamps are clamped to ±2^60 µs (about 36,500 years).
const MAX_TIMESTAMP_US: i64 = 1 << 60;

/// How long a first fragment's ports are kept for its other fragments.
const FRAGMENT_LIFETIME_US: i64 = 30_000_000;

/// Flow blocks kept for reuse.
const SPARE_BLOCKS: usize = 256;

impl FlowMeter {
    /// A meter with the given settings (checked with
    /// [`MeterConfig::validate`]).
    pub fn new(config: MeterConfig) -> Result<FlowMeter, Error> {
        config.validate()?;
        let wake_ups = Timers {
            off: config.keep_until_end,
            ..Timers::default()
        };
        Ok(FlowMeter {
            table: HashMap::new(),
            core: Core {
                flow_timeout: config.flow_timeout_us(),
                activity_timeout: config.activity_timeout_us(),
                emit_closed_after: config.emit_closed_after.map(micros),
                forget_after: config.forget_after.map(micros),
                config,
                wake_ups,
                now: None,
                next_version: 0,
                fragments: HashMap::new(),
                summary: CaptureSummary::default(),
                spare: Vec::new(),
            },
        })
    }

    /// The settings.
    pub fn config(&self) -> &MeterConfig {
        &self.core.config
    }

    /// Counts so far (packets metered and skipped by the meter, flows emitted).
    pub fn summary(&self) -> &CaptureSummary {
        &self.core.summary
    }

    /// Flows currently open.
    pub fn live_flows(&self) -> usize {
        self.table
            .values()
            .filter(|slot| matches!(slot.state, State::Live(_)))
            .count()
    }

    /// 5-tuples remembered after their last flow ended (see
    /// [`MeterConfig::forget_after`]).
    pub fn ended_flows(&self) -> usize {
        self.table.len() - self.live_flows()
    }

    /// Heap bytes held by the table: its slots, the open flows and the
    /// retransmission sets.
    pub fn heap_bytes(&self) -> usize {
        let core = &self.core;
        let mut bytes = self.table.allocation_size()
            + core.wake_ups.heap_bytes()
            + core.fragments.allocation_size()
            + core.spare.len() * size_of::<Live>();
        for slot in self.table.values() {
            bytes += match &slot.state {
                State::Live(live) => size_of::<Live>() + live.retransmissions.heap_bytes(),
                State::Ended(ended) => ended.retransmissions.heap_bytes(),
            };
        }
        bytes
    }

    /// Decodes a captured frame and meters it. Frames that are not metered
    /// are counted by reason in the [`summary`](FlowMeter::summary).
    pub fn push_frame(
        &mut self,
        link: LinkType,
        timestamp_us: i64,
        frame: &[u8],
        sink: &mut impl FlowSink,
    ) -> Result<(), Error> {
        match decode::decode(link, frame, timestamp_us, &self.core.config) {
            Ok(decoded) => {
                let mut packet = decoded.packet;
                if self.core.config.attribute_fragments
                    && let Some((id, first, bytes)) = decoded.fragment
                {
                    self.core.attribute_fragment(&mut packet, id, first, bytes);
                }
                self.push_packet(&packet, sink)
            }
            Err(reason) => {
                self.core.summary.skipped.add(reason);
                Ok(())
            }
        }
    }

    /// Meters a decoded packet. Packets should come in capture order; a
    /// packet older than an earlier one is metered all the same (and
    /// counted), as the oracle does.
    pub fn push_packet(&mut self, p: &Packet, sink: &mut impl FlowSink) -> Result<(), Error> {
        // Absurd timestamps (tens of thousands of years away) are clamped so
        // that time arithmetic cannot overflow.
        let clamped;
        let p = if (-MAX_TIMESTAMP_US..=MAX_TIMESTAMP_US).contains(&p.timestamp_us) {
            p
        } else {
            clamped = Packet {
                timestamp_us: p.timestamp_us.clamp(-MAX_TIMESTAMP_US, MAX_TIMESTAMP_US),
                ..*p
            };
            &clamped
        };
        let ts = p.timestamp_us;
        let summary = &mut self.core.summary;
        summary.packets_metered += 1;
        summary.zero_timestamps += u64::from(ts == 0);
        match self.core.now {
            Some(now) if ts < now => self.core.summary.backwards_timestamps += 1,
            Some(now) if ts == now => {}
            _ => self.advance_to(ts, sink)?,
        }
        let (key, src_is_lo) = FlowKey::of(p);
        let FlowMeter { table, core } = self;
        match table.entry(key) {
            hashbrown::hash_map::Entry::Vacant(vacant) => {
                // A SYN-ACK seen first: the flow is the SYN's sender's.
                let reversed = p.flags.has(TcpFlags::SYN | TcpFlags::ACK);
                let stats = new_stats(p, reversed, core.config.true_min_segment_size);
                let retransmissions = Retransmissions::new(core.config.strict_retransmissions);
                let live = core.new_live(stats, retransmissions, p);
                let version = core.bump_version();
                let at = live.stats.start.saturating_add(core.flow_timeout);
                vacant.insert(Slot {
                    id_lo_first: src_is_lo != reversed,
                    version,
                    state: State::Live(live),
                });
                core.wake_ups.push(WakeUp { at, version, key });
            }
            hashbrown::hash_map::Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                let step = match &mut slot.state {
                    State::Live(live) => {
                        let step = step(live, p, core.flow_timeout, core.activity_timeout);
                        if let Step::Added = step {
                            if let Some(linger) = core.emit_closed_after
                                && live.stats.tcp_state == TcpState::Closed
                            {
                                let at = ts.saturating_add(linger);
                                let version = slot.version;
                                core.wake_ups.push(WakeUp { at, version, key });
                            }
                            return Ok(());
                        }
                        step
                    }
                    State::Ended(_) => Step::Ends,
                };
                core.end(slot, key, false, sink)?;
                core.start_next(slot, key, p, matches!(step, Step::IcmpChange));
            }
        }
        Ok(())
    }

    /// Advances packet time to `ts` (if later than the latest packet) and
    /// emits every flow that can no longer change: its flow timeout has
    /// passed, or (with [`MeterConfig::emit_closed_after`]) it closed long
    /// enough ago. A live capture that goes quiet can call this with the
    /// wall clock to flush flows.
    pub fn advance_to(&mut self, ts: i64, sink: &mut impl FlowSink) -> Result<(), Error> {
        let FlowMeter { table, core } = self;
        let now = match core.now {
            Some(now) if now >= ts => return Ok(()),
            _ => ts,
        };
        core.now = Some(now);
        while let Some(wake) = core.wake_ups.pop_due(now) {
            let Some(slot) = table.get_mut(&wake.key) else {
                continue;
            };
            if slot.version != wake.version {
                continue;
            }
            match &slot.state {
                State::Live(live) => {
                    let stats = &live.stats;
                    let timed_out = now - stats.start > core.flow_timeout;
                    let lingered = stats.tcp_state == TcpState::Closed
                        && core
                            .emit_closed_after
                            .is_some_and(|linger| now - stats.last_seen > linger);
                    if timed_out || lingered {
                        core.end(slot, wake.key, timed_out, sink)?;
                    }
                }
                State::Ended(ended) => {
                    if core
                        .forget_after
                        .is_some_and(|forget| now - ended.last_seen > forget)
                    {
                        table.remove(&wake.key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Emits every open flow (end of input), oldest first.
    pub fn finish(&mut self, sink: &mut impl FlowSink) -> Result<(), Error> {
        let mut open: Vec<(i64, u64, FlowKey)> = self
            .table
            .iter()
            .filter_map(|(key, slot)| match &slot.state {
                // A live slot's version is its flow's creation order.
                State::Live(live) => Some((live.stats.start, slot.version, *key)),
                State::Ended(_) => None,
            })
            .collect();
        open.sort_unstable();
        let FlowMeter { table, core } = self;
        for (_, _, key) in open {
            if let Some(slot) = table.get_mut(&key) {
                core.end(slot, key, false, sink)?;
            }
        }
        table.clear();
        core.wake_ups.clear();
        core.fragments.clear();
        core.spare.clear();
        Ok(())
    }
}

impl Core {
    fn bump_version(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }

    /// A block for a new flow, reused when one is spare.
    fn new_live(
        &mut self,
        stats: FlowStats,
        retransmissions: Retransmissions,
        p: &Packet,
    ) -> Box<Live> {
        let mut live = match self.spare.pop() {
            Some(mut block) => {
                block.stats = stats;
                block.retransmissions = retransmissions;
                block
            }
            None => Box::new(Live {
                stats,
                retransmissions,
            }),
        };
        if live.stats.protocol == protocol::TCP {
            let forward = live.stats.is_forward(p);
            if live.retransmissions.check(p, forward) {
                bump(&mut live.stats, forward);
            }
        }
        live
    }

    fn attribute_fragment(&mut self, packet: &mut Packet, id: FragmentId, first: bool, bytes: u32) {
        let now = packet.timestamp_us;
        if first {
            if packet.protocol != protocol::OTHER {
                let ports = (packet.src_port, packet.dst_port, packet.protocol, now);
                self.fragments.insert(id, ports);
            }
            if self.fragments.len() > 4096 {
                self.fragments
                    .retain(|_, v| now - v.3 <= FRAGMENT_LIFETIME_US);
            }
        } else if let Some(&(src_port, dst_port, proto, seen)) = self.fragments.get(&id)
            && now - seen <= FRAGMENT_LIFETIME_US
        {
            packet.src_port = src_port;
            packet.dst_port = dst_port;
            packet.protocol = proto;
            packet.payload_len = bytes;
            self.summary.fragments_attributed += 1;
        }
    }

    /// The live flow of `slot` has ended: emit it and keep what a later
    /// packet of the 5-tuple needs.
    fn end(
        &mut self,
        slot: &mut Slot,
        key: FlowKey,
        timed_out: bool,
        sink: &mut impl FlowSink,
    ) -> Result<(), Error> {
        let State::Live(live) = &mut slot.state else {
            return Ok(());
        };
        let mut stats = live.stats.clone();
        let retransmissions = std::mem::replace(
            &mut live.retransmissions,
            Retransmissions::Strict([None; 2]),
        );
        if stats.is_tcp_or_udp() {
            stats.connection_time = stats.connection_time.saturating_add(stats.duration());
        }
        let ended = Ended {
            forward_is_lo: key.is_lo(&stats.src, stats.src_port),
            closed: stats.tcp_state == TcpState::Closed,
            start: stats.start,
            last_seen: stats.last_seen,
            connection_time: stats.connection_time,
            retransmissions,
            timed_out,
        };
        if let State::Live(block) = std::mem::replace(&mut slot.state, State::Ended(ended))
            && self.spare.len() < SPARE_BLOCKS
        {
            self.spare.push(block);
        }
        let version = self.bump_version();
        slot.version = version;
        if let Some(forget) = self.forget_after {
            let at = stats.last_seen.saturating_add(forget);
            self.wake_ups.push(WakeUp { at, version, key });
        }
        self.summary.flows_emitted += 1;
        sink.write_flow(FlowRecord::new(key.oriented(slot.id_lo_first), stats))
    }

    /// Starts the flow that follows an ended one, with packet `p` (the
    /// oracle's timeout branch and its ICMP branch).
    fn start_next(&mut self, slot: &mut Slot, key: FlowKey, p: &Packet, icmp_change: bool) {
        let State::Ended(ended) = &mut slot.state else {
            return;
        };
        let ts = p.timestamp_us;
        let flow_timeout = self.flow_timeout;
        if ended.timed_out && ts - ended.start <= flow_timeout {
            self.summary.late_packets += 1;
        }
        let is_tcp_or_udp = matches!(p.protocol, protocol::TCP | protocol::UDP);
        let fresh = icmp_change
            || (ended.closed && p.flags.has(TcpFlags::SYN))
            || (p.protocol == protocol::UDP && ts - ended.last_seen > flow_timeout)
            || !is_tcp_or_udp;
        let true_min = self.config.true_min_segment_size;
        let (stats, retransmissions) = if fresh {
            let reversed = !icmp_change && p.flags.has(TcpFlags::SYN | TcpFlags::ACK);
            let stats = new_stats(p, reversed, true_min);
            (
                stats,
                Retransmissions::new(self.config.strict_retransmissions),
            )
        } else {
            // The same connection goes on: same direction, cumulated time,
            // and the retransmission history.
            let (src, src_port, dst, dst_port) = key.oriented(ended.forward_is_lo);
            let mut stats = FlowStats::new(p, src, dst, src_port, dst_port);
            stats.true_min_segment_size = true_min;
            stats.connection_time = ended.connection_time.saturating_add(ts - ended.last_seen);
            let retransmissions = std::mem::replace(
                &mut ended.retransmissions,
                Retransmissions::Strict([None; 2]),
            );
            (stats, retransmissions)
        };
        let live = self.new_live(stats, retransmissions, p);
        let at = live.stats.start.saturating_add(flow_timeout);
        let version = self.bump_version();
        slot.version = version;
        slot.state = State::Live(live);
        self.wake_ups.push(WakeUp { at, version, key });
    }
}

/// What `p` does to a live flow (the oracle's `FlowGenerator.addPacket`).
fn step(live: &mut Live, p: &Packet, flow_timeout: i64, activity_timeout: i64) -> Step {
    let stats = &live.stats;
    let flags = p.flags;
    if p.timestamp_us - stats.start > flow_timeout
        || (stats.tcp_state == TcpState::Closed && flags.has(TcpFlags::SYN))
    {
        return Step::Ends;
    }
    if flags.has(TcpFlags::FIN) {
        live.add(p, activity_timeout);
        let stats = &mut live.stats;
        match stats.tcp_state {
            TcpState::Open => stats.tcp_state = TcpState::FirstFin,
            TcpState::FirstFin if stats.fwd.fin > 0 && stats.bwd.fin > 0 => {
                stats.tcp_state = TcpState::SecondFin;
            }
            _ => {}
        }
    } else if flags.has(TcpFlags::RST) {
        live.add(p, activity_timeout);
        live.stats.tcp_state = TcpState::Closed;
    } else if flags.has(TcpFlags::ACK) {
        live.add(p, activity_timeout);
        if live.stats.tcp_state == TcpState::SecondFin {
            live.stats.tcp_state = TcpState::Closed;
        }
    } else if matches!(stats.protocol, protocol::ICMP | protocol::ICMPV6)
        && stats.icmp_code != p.icmp_code
        && stats.icmp_type != p.icmp_type
    {
        return Step::IcmpChange;
    } else {
        live.add(p, activity_timeout);
    }
    Step::Added
}

/// A new flow started by `p`: forward is `p`'s sender, or its receiver when
/// `reversed` (a SYN-ACK seen first).
fn new_stats(p: &Packet, reversed: bool, true_min_segment_size: bool) -> FlowStats {
    let mut stats = if reversed {
        FlowStats::new(p, p.dst, p.src, p.dst_port, p.src_port)
    } else {
        FlowStats::new(p, p.src, p.dst, p.src_port, p.dst_port)
    };
    stats.true_min_segment_size = true_min_segment_size;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::feature_index;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp(ts: i64, from_a: bool, flags: u8, seq: u32, payload: u32) -> Packet {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let mut p = if from_a {
            Packet::new(ts, a, b, protocol::TCP)
        } else {
            Packet::new(ts, b, a, protocol::TCP)
        };
        (p.src_port, p.dst_port) = if from_a { (40000, 80) } else { (80, 40000) };
        p.flags = TcpFlags(flags);
        p.seq = seq;
        p.payload_len = payload;
        p.header_len = 20;
        p.window = 1000;
        p
    }

    fn feature(flow: &FlowRecord, name: &str) -> f64 {
        flow.feature(feature_index(name).unwrap()).as_f64()
    }

    fn run(packets: &[Packet], config: MeterConfig) -> Vec<FlowRecord> {
        let mut meter = FlowMeter::new(config).unwrap();
        let mut flows = Vec::new();
        for p in packets {
            meter.push_packet(p, &mut flows).unwrap();
        }
        meter.finish(&mut flows).unwrap();
        flows
    }

    const S: u8 = TcpFlags::SYN;
    const A: u8 = TcpFlags::ACK;
    const F: u8 = TcpFlags::FIN;
    const R: u8 = TcpFlags::RST;

    #[test]
    fn a_closed_connection_still_takes_late_packets_until_a_syn() {
        let packets = [
            tcp(0, true, S, 1, 0),
            tcp(10, false, S | A, 9, 0),
            tcp(20, true, A, 2, 0),
            tcp(30, true, F | A, 2, 0),
            tcp(40, false, F | A, 10, 0),
            tcp(50, true, A, 3, 0),
            tcp(60, false, R, 11, 0), // joins the closed flow
            tcp(70, true, S, 100, 0), // a new connection
        ];
        let flows = run(&packets, MeterConfig::default());
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].packets(), 7);
        assert_eq!(flows[1].packets(), 1);
        assert_eq!(flows[1].flow_id(), "10.0.0.1-10.0.0.2-40000-80-6");
        // With emit_closed_after = 5 µs the closed flow is emitted before the
        // RST, which starts the connection's next flow (as after a timeout);
        // that flow is open, so the SYN joins it.
        let config = MeterConfig {
            emit_closed_after: Some(std::time::Duration::from_micros(5)),
            ..MeterConfig::default()
        };
        let flows = run(&packets, config);
        assert_eq!(
            flows.iter().map(FlowRecord::packets).collect::<Vec<_>>(),
            [6, 2]
        );
    }

    #[test]
    fn syn_ack_first_makes_the_receiver_forward() {
        let flows = run(
            &[tcp(0, false, S | A, 9, 0), tcp(5, true, A, 2, 0)],
            MeterConfig::default(),
        );
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].src(), ip("10.0.0.1"));
        assert_eq!(feature(&flows[0], "Total Fwd Packet"), 1.0);
        assert_eq!(feature(&flows[0], "Total Bwd packets"), 1.0);
        // The forward direction did not send the first packet: its window
        // and minimum segment size stay 0.
        assert_eq!(feature(&flows[0], "FWD Init Win Bytes"), 0.0);
        assert_eq!(feature(&flows[0], "Fwd Seg Size Min"), 0.0);
        assert_eq!(feature(&flows[0], "Bwd Seg Size Min"), 20.0);
    }

    #[test]
    fn the_flow_timeout_counts_from_the_first_packet_and_the_connection_goes_on() {
        let t = 120_000_000;
        let packets = [
            tcp(0, true, A, 1, 10),
            tcp(t, false, A, 5, 10),     // exactly at the timeout: same flow
            tcp(t + 1, false, A, 6, 10), // past it: next flow, same direction
            tcp(t + 2, false, A, 5, 10), // a repeat: retransmission
        ];
        let flows = run(&packets, MeterConfig::default());
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].packets(), 2);
        assert_eq!(
            flows[1].src(),
            ip("10.0.0.1"),
            "the connection's direction is kept"
        );
        assert_eq!(feature(&flows[1], "Total Fwd Packet"), 0.0);
        assert_eq!(feature(&flows[1], "Bwd TCP Retrans. Count"), 1.0);
        assert_eq!(feature(&flows[0], "Total Connection Flow Time"), t as f64);
        assert_eq!(
            feature(&flows[1], "Total Connection Flow Time"),
            (t + 2) as f64
        );
    }

    #[test]
    fn flows_are_emitted_once_final() {
        let mut meter = FlowMeter::new(MeterConfig::default()).unwrap();
        let mut flows = Vec::new();
        meter
            .push_packet(&tcp(0, true, S, 1, 0), &mut flows)
            .unwrap();
        let mut other = tcp(120_000_001, true, S, 1, 0);
        other.src_port = 1;
        meter.push_packet(&other, &mut flows).unwrap();
        assert_eq!(flows.len(), 1, "the first flow is final");
        assert_eq!((meter.live_flows(), meter.ended_flows()), (1, 1));
    }

    #[test]
    fn an_icmp_flow_ends_when_type_and_code_both_change() {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let icmp = |ts, src, dst, t, c| {
            let mut p = Packet::new(ts, src, dst, protocol::ICMP);
            (p.icmp_type, p.icmp_code) = (t, c);
            p
        };
        let packets = [
            icmp(0, a, b, 8, 0),
            icmp(1, b, a, 0, 0),
            icmp(2, b, a, 3, 3), // both differ from (8, 0): new flow, B forward
            icmp(3, a, b, 8, 0), // both differ from (3, 3): new flow
            icmp(4, b, a, 3, 0), // same code: joins
        ];
        let flows = run(&packets, MeterConfig::default());
        let counts: Vec<_> = flows.iter().map(|f| (f.src(), f.packets())).collect();
        assert_eq!(counts, [(a, 2), (b, 1), (a, 2)]);
        assert!(
            flows
                .iter()
                .all(|f| f.flow_id() == "10.0.0.1-10.0.0.2-0-0-1")
        );
    }

    #[test]
    fn retransmission_rules() {
        let packets = [
            tcp(0, true, A, 1, 0),
            tcp(1, true, F | A, 1, 0), // the oracle: a repeat of the pure ACK
            tcp(2, true, A, 2, 100),
            tcp(3, true, A, 2, 100), // a real retransmission
        ];
        let oracle = run(&packets, MeterConfig::default());
        assert_eq!(feature(&oracle[0], "Fwd TCP Retrans. Count"), 2.0);
        let strict = run(
            &packets,
            MeterConfig {
                strict_retransmissions: true,
                ..MeterConfig::default()
            },
        );
        assert_eq!(feature(&strict[0], "Fwd TCP Retrans. Count"), 1.0);
    }

    #[test]
    fn forgetting_bounds_the_table() {
        let config = MeterConfig {
            forget_after: Some(std::time::Duration::from_secs(1)),
            ..MeterConfig::default()
        };
        let mut meter = FlowMeter::new(config).unwrap();
        let mut flows = Vec::new();
        for i in 0..100u16 {
            let mut p = tcp(i64::from(i) * 200_000_000, true, S, 1, 0);
            p.src_port = i;
            meter.push_packet(&p, &mut flows).unwrap();
        }
        assert_eq!(flows.len(), 99);
        assert!(meter.table.len() <= 2, "{}", meter.table.len());
    }

    /// The figures the crate documentation states: bytes per open flow
    /// (heap block, table slot, wake-up entry), per remembered 5-tuple, and
    /// per TCP segment remembered for retransmission counting.
    #[test]
    fn memory_per_flow() {
        let mut meter = FlowMeter::new(MeterConfig::default()).unwrap();
        let mut flows = Vec::new();
        let n = 20_000u32;
        for i in 0..n {
            let mut p = tcp(1, true, S, 1, 0);
            p.src = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            p.protocol = protocol::UDP;
            meter.push_packet(&p, &mut flows).unwrap();
        }
        let per_flow = meter.heap_bytes() as f64 / f64::from(n);
        println!(
            "per open flow: {per_flow:.0} bytes (Live {} B)",
            size_of::<Live>()
        );
        assert!(per_flow < 1200.0, "{per_flow}");
        let mut q = tcp(200_000_000, true, S, 1, 0);
        q.src_port = 9;
        meter.push_packet(&q, &mut flows).unwrap();
        assert_eq!(meter.ended_flows(), n as usize);
        let per_ended = (meter.heap_bytes() - size_of::<Live>()) as f64 / f64::from(n);
        println!("per ended 5-tuple: {per_ended:.0} bytes");
        assert!(per_ended < 400.0, "{per_ended}");

        let mut meter = FlowMeter::new(MeterConfig::default()).unwrap();
        let before = meter.heap_bytes();
        let segments = 100_000u32;
        for i in 0..segments {
            meter
                .push_packet(&tcp(i64::from(i), true, A, i * 100, 100), &mut flows)
                .unwrap();
        }
        let per_segment = (meter.heap_bytes() - before) as f64 / f64::from(segments);
        println!("per TCP segment: {per_segment:.1} bytes");
        assert!(per_segment < 40.0, "{per_segment}");
    }
}
