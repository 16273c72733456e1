//! What happened to every packet of a capture.

use std::fmt;

/// Why a captured packet did not reach the flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The last record was cut short by the end of the input.
    TruncatedRecord,
    /// A pcapng packet names an interface that no Interface Description
    /// Block described.
    UnknownInterface,
    /// The link-layer header type is not one this crate decodes.
    UnknownLinkType,
    /// The frame is shorter than its link-layer header (or a VLAN tag or
    /// MPLS label in it).
    TruncatedLink,
    /// Not IP: ARP, LLDP, 802.3 LLC, PPPoE, ...
    NonIp,
    /// IP under MPLS labels, with [`MeterConfig::mpls`](crate::MeterConfig::mpls) off.
    Mpls,
    /// IPv6, with [`MeterConfig::ipv6`](crate::MeterConfig::ipv6) off (the oracle's behaviour).
    Ipv6Disabled,
    /// An IP header that cannot be read: wrong version, header length below
    /// the minimum, or cut short.
    MalformedIp,
    /// A TCP header whose data offset is below 5 words.
    MalformedTransport,
}

impl SkipReason {
    /// Every reason, in the order summaries list them.
    pub const ALL: [SkipReason; 9] = [
        SkipReason::TruncatedRecord,
        SkipReason::UnknownInterface,
        SkipReason::UnknownLinkType,
        SkipReason::TruncatedLink,
        SkipReason::NonIp,
        SkipReason::Mpls,
        SkipReason::Ipv6Disabled,
        SkipReason::MalformedIp,
        SkipReason::MalformedTransport,
    ];

    /// A short name for reports (`non-IP`, `IPv6 (off)`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TruncatedRecord => "truncated record",
            SkipReason::UnknownInterface => "unknown pcapng interface",
            SkipReason::UnknownLinkType => "unknown link type",
            SkipReason::TruncatedLink => "truncated link header",
            SkipReason::NonIp => "non-IP",
            SkipReason::Mpls => "MPLS (off)",
            SkipReason::Ipv6Disabled => "IPv6 (off)",
            SkipReason::MalformedIp => "malformed IP header",
            SkipReason::MalformedTransport => "malformed TCP header",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Packets skipped, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkipCounts([u64; SkipReason::ALL.len()]);

impl SkipCounts {
    /// Packets skipped for `reason`.
    pub fn get(&self, reason: SkipReason) -> u64 {
        self.0[reason.index()]
    }

    /// Packets skipped for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The reasons that occurred, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        SkipReason::ALL
            .iter()
            .map(|&r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
    }

    pub(crate) fn add(&mut self, reason: SkipReason) {
        self.0[reason.index()] += 1;
    }
}

/// How the input ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CaptureEnd {
    /// Every record was read.
    #[default]
    Complete,
    /// The last record was cut short (counted as a
    /// [`SkipReason::TruncatedRecord`]).
    Truncated {
        /// Byte offset of the incomplete record.
        offset: u64,
    },
    /// A record or block header is invalid; reading stopped there (a pcap
    /// file cannot be resynchronised).
    Corrupt {
        /// Byte offset of the bad record.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
}

/// Counts for one capture: what was read, metered, skipped and emitted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Packet records read from the capture.
    pub packets_read: u64,
    /// Packets that reached the flow table.
    pub packets_metered: u64,
    /// Packets that did not, by reason.
    pub skipped: SkipCounts,
    /// Metered packets whose timestamp is zero (kept, as the oracle does).
    pub zero_timestamps: u64,
    /// Metered packets older than a packet before them (kept, as the oracle
    /// does; a disordered capture may make flows differ from the order in
    /// which packets were sent).
    pub backwards_timestamps: u64,
    /// Packets that arrived, out of order, for a flow already emitted by its
    /// timeout: the oracle, which keeps every flow until the end, would have
    /// added them to it; here they start the connection's next flow.
    pub late_packets: u64,
    /// Records longer than the capture's snapshot length, cut to it as
    /// libpcap does.
    pub oversized_records: u64,
    /// Non-first fragments added to their flow
    /// ([`MeterConfig::attribute_fragments`](crate::MeterConfig::attribute_fragments)).
    pub fragments_attributed: u64,
    /// Flows handed to the sink.
    pub flows_emitted: u64,
    /// Bytes of capture read.
    pub bytes_read: u64,
    /// How the input ended.
    pub end: CaptureEnd,
}

impl fmt::Display for CaptureSummary {
    /// One line: `packets read N, metered N, skipped N (reason N, ...), flows N`,
    /// then the anomalies and the end of input when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packets read {}, metered {}, skipped {}",
            self.packets_read,
            self.packets_metered,
            self.skipped.total()
        )?;
        let mut reasons = self.skipped.iter().peekable();
        if reasons.peek().is_some() {
            let list: Vec<String> = reasons.map(|(r, n)| format!("{r} {n}")).collect();
            write!(f, " ({})", list.join(", "))?;
        }
        write!(f, ", flows emitted {}", self.flows_emitted)?;
        for (name, n) in [
            ("zero timestamps", self.zero_timestamps),
            ("backwards timestamps", self.backwards_timestamps),
            ("late packets", self.late_packets),
            ("records cut to the snapshot length", self.oversized_records),
            ("fragments attributed", self.fragments_attributed),
        ] {
            if n > 0 {
                write!(f, ", {name} {n}")?;
            }
        }
        match &self.end {
            CaptureEnd::Complete => Ok(()),
            CaptureEnd::Truncated { offset } => {
                write!(f, "; last record truncated at byte {offset}")
            }
            CaptureEnd::Corrupt { offset, detail } => {
                write!(f, "; stopped at byte {offset}: {detail}")
            }
        }
    }
}
