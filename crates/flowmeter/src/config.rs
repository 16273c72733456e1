//! The meter's settings. `Default` is the fixed CICFlowMeter's behaviour;
//! every other setting is an extension that changes nothing while it is off.

use std::time::Duration;

/// How packets become flows and features.
///
/// `MeterConfig::default()` reproduces the fixed CICFlowMeter: 120 s flow
/// timeout, 5 s activity timeout, IPv4 only, MPLS frames skipped, non-first
/// fragments as port-0 "protocol 0" flows, and every quirk of its features.
///
/// ```
/// use std::time::Duration;
/// use flowmeter::MeterConfig;
///
/// let config = MeterConfig {
///     ipv6: true,
///     strict_retransmissions: true,
///     ..MeterConfig::default()
/// };
/// assert_eq!(config.flow_timeout, Duration::from_secs(120));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterConfig {
    /// A flow ends when a packet of it arrives more than this after the
    /// flow's *first* packet (an active timeout, in packet time).
    pub flow_timeout: Duration,
    /// A gap longer than this between two packets of a flow closes an
    /// Active period and records an Idle one.
    pub activity_timeout: Duration,
    /// Meter IPv6 packets too (the oracle never reads them). Off by default.
    pub ipv6: bool,
    /// Decode IP under MPLS label stacks (the oracle skips such frames).
    pub mpls: bool,
    /// Add non-first IP fragments to the flow of their first fragment, with
    /// the bytes they carry as payload, instead of keying them as port-0
    /// "protocol 0" flows as the oracle does.
    pub attribute_fragments: bool,
    /// Count a TCP segment as a retransmission only when it carries data (or
    /// SYN/FIN) whose sequence range was already sent in its direction. The
    /// oracle counts any repeat of (sequence, acknowledgement, payload
    /// length, window), so a FIN or RST right after a pure ACK counts.
    pub strict_retransmissions: bool,
    /// `Fwd/Bwd Seg Size Min` as the smallest header actually seen in each
    /// direction. The oracle starts the direction that did not send the
    /// flow's first packet at 0, so that direction always reports 0.
    pub true_min_segment_size: bool,
    /// Emit a TCP flow closed by FINs and the last ACK, or by a RST, once no
    /// packet of it arrived for this long (packet time); a later packet of
    /// the same connection then starts a new flow, as after a timeout. The
    /// oracle (`None`) keeps a closed flow open until its flow timeout, so
    /// that late ACKs and RSTs still join it.
    pub emit_closed_after: Option<Duration>,
    /// Forget a connection this long after its last flow ended (packet
    /// time). The oracle remembers every connection for the whole capture:
    /// a later packet continues it (same direction, `Total Connection Flow
    /// Time` growing, retransmissions compared with its earlier segments)
    /// and its `Flow ID` keeps its first orientation. `None` (the default)
    /// does the same, at about 100 bytes per connection plus, in the
    /// default retransmission mode, 17 bytes per TCP segment seen; set a
    /// duration to bound memory on endless captures.
    pub forget_after: Option<Duration>,
    /// Emit flows only when a packet of their 5-tuple ends them or at the
    /// end of input, as the oracle does, instead of as soon as packet time
    /// passes their timeout. The two agree on any capture in time order; on
    /// a capture whose clock goes back (several captures concatenated), the
    /// oracle adds the older packets to flows already open, and only this
    /// mode reproduces that. Every flow stays in memory until the end.
    pub keep_until_end: bool,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            flow_timeout: Duration::from_secs(120),
            activity_timeout: Duration::from_secs(5),
            ipv6: false,
            mpls: false,
            attribute_fragments: false,
            strict_retransmissions: false,
            true_min_segment_size: false,
            emit_closed_after: None,
            forget_after: None,
            keep_until_end: false,
        }
    }
}

impl MeterConfig {
    /// Checks the durations: timeouts must be at least a microsecond (the
    /// oracle's clock) and at most 100 years.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bad = flowmeter::MeterConfig { flow_timeout: Duration::ZERO, ..Default::default() };
    /// let err = bad.validate().unwrap_err().to_string();
    /// assert!(err.contains("flow_timeout"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), crate::Error> {
        let limit = Duration::from_secs(100 * 365 * 86_400);
        let checks = [
            ("flow_timeout", Some(self.flow_timeout)),
            ("activity_timeout", Some(self.activity_timeout)),
            ("emit_closed_after", self.emit_closed_after),
            ("forget_after", self.forget_after),
        ];
        for (name, value) in checks {
            if let Some(value) = value
                && (value < Duration::from_micros(1) || value > limit)
            {
                return Err(crate::Error::Config(format!(
                    "{name} = {value:?}: expected between 1 µs and 100 years"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn flow_timeout_us(&self) -> i64 {
        micros(self.flow_timeout)
    }

    pub(crate) fn activity_timeout_us(&self) -> i64 {
        micros(self.activity_timeout)
    }
}

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
