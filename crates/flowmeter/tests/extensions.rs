//! The extensions beyond the oracle: each changes what it says when on, and
//! nothing when off.

use std::time::Duration;

use flowmeter::{FlowMeter, FlowRecord, LinkType, MeterConfig, feature_index};

/// Ethernet + IPv4 + UDP (or a fragment of it: `offset` in 8-byte units,
/// `more` fragments flag).
fn udp4(src: u8, id: u16, offset: u16, more: bool, payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let transport = if offset == 0 { 8 } else { 0 };
    let total = (20 + transport + payload) as u16;
    let flags = (u16::from(more) << 13) | offset;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&flags.to_be_bytes());
    f.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, src, 10, 0, 0, 99]);
    if offset == 0 {
        f.extend_from_slice(&[0x13, 0x88, 0x00, 0x35]);
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    }
    f.extend(std::iter::repeat_n(0x61, payload));
    f
}

/// Ethernet + IPv6 (a hop-by-hop extension header) + TCP.
fn tcp6(from_a: bool, flags: u8, payload: usize) -> Vec<u8> {
    let (a, b): ([u8; 16], [u8; 16]) = (
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    let (src, dst, sport, dport) = if from_a {
        (a, b, 40000u16, 443u16)
    } else {
        (b, a, 443, 40000)
    };
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((8 + 20 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 64]); // next header: hop-by-hop
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop, then TCP
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0x10, 0, 0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(0x62, payload));
    f
}

fn meter(
    frames: &[(i64, Vec<u8>)],
    config: MeterConfig,
) -> (Vec<FlowRecord>, flowmeter::CaptureSummary) {
    let mut meter = FlowMeter::new(config).unwrap();
    let mut flows = Vec::new();
    for (ts, frame) in frames {
        meter
            .push_frame(LinkType::ETHERNET, *ts, frame, &mut flows)
            .unwrap();
    }
    meter.finish(&mut flows).unwrap();
    (flows, meter.summary().clone())
}

fn feature(flow: &FlowRecord, name: &str) -> f64 {
    flow.feature(feature_index(name).unwrap()).as_f64()
}

#[test]
fn ipv6_flows_only_when_asked() {
    let frames = vec![
        (1_000_000, tcp6(true, 0x02, 0)),
        (1_000_100, tcp6(false, 0x12, 0)),
        (1_000_200, tcp6(true, 0x18, 100)),
    ];
    let (flows, summary) = meter(&frames, MeterConfig::default());
    assert!(flows.is_empty());
    assert_eq!(summary.skipped.get(flowmeter::SkipReason::Ipv6Disabled), 3);
    let config = MeterConfig {
        ipv6: true,
        ..MeterConfig::default()
    };
    let (flows, _) = meter(&frames, config);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].flow_id(), "2001:db8::1-2001:db8::2-40000-443-6");
    assert_eq!(feature(&flows[0], "Total Length of Fwd Packet"), 100.0);
    assert_eq!(
        feature(&flows[0], "Fwd Header Length"),
        40.0,
        "TCP headers only, the extension header is not one"
    );
}

#[test]
fn non_first_fragments_join_their_flow_when_asked() {
    let frames = vec![
        (1_000_000, udp4(1, 7, 0, true, 1472)),
        (1_000_010, udp4(1, 7, 185, false, 60)),
    ];
    let (flows, _) = meter(&frames, MeterConfig::default());
    let ids: Vec<String> = flows.iter().map(FlowRecord::flow_id).collect();
    assert_eq!(
        ids,
        ["10.0.0.1-10.0.0.99-5000-53-17", "10.0.0.1-10.0.0.99-0-0-0"]
    );
    let config = MeterConfig {
        attribute_fragments: true,
        ..MeterConfig::default()
    };
    let (flows, summary) = meter(&frames, config);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].packets(), 2);
    assert_eq!(feature(&flows[0], "Total Length of Fwd Packet"), 1532.0);
    assert_eq!(summary.fragments_attributed, 1);
}

#[test]
fn shorter_timeouts_cut_flows_and_active_periods() {
    let frames: Vec<(i64, Vec<u8>)> = (0..6)
        .map(|i| (i * 2_000_000, udp4(1, i as u16, 0, false, 10)))
        .collect();
    let (flows, _) = meter(&frames, MeterConfig::default());
    assert_eq!(flows.len(), 1);
    assert_eq!(feature(&flows[0], "Idle Max"), 0.0);
    let config = MeterConfig {
        flow_timeout: Duration::from_secs(5),
        activity_timeout: Duration::from_secs(1),
        ..MeterConfig::default()
    };
    let (flows, _) = meter(&frames, config);
    assert_eq!(
        flows.iter().map(FlowRecord::packets).collect::<Vec<_>>(),
        [3, 3]
    );
    assert_eq!(feature(&flows[0], "Idle Max"), 2_000_000.0);
}

#[test]
fn true_minimum_segment_sizes() {
    let frames = vec![
        (1_000_000, tcp6(true, 0x02, 0)),
        (1_000_100, tcp6(false, 0x12, 0)),
    ];
    let ipv6 = MeterConfig {
        ipv6: true,
        ..MeterConfig::default()
    };
    let (flows, _) = meter(&frames, ipv6.clone());
    assert_eq!(feature(&flows[0], "Bwd Seg Size Min"), 0.0, "the oracle's");
    let config = MeterConfig {
        true_min_segment_size: true,
        ..ipv6
    };
    let (flows, _) = meter(&frames, config);
    assert_eq!(feature(&flows[0], "Bwd Seg Size Min"), 20.0);
}
