//! The crate's error type.

use std::io;

/// What can go wrong reading a capture or writing flows. A malformed packet
/// is never an error (it is counted in the
/// [`CaptureSummary`](crate::CaptureSummary)); neither is a truncated or
/// corrupt capture, whose readable part is metered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be read.
    #[error("{name}: {source}")]
    Io {
        /// The input (a path, or `-`).
        name: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The input is not a pcap or pcapng capture.
    #[error("{name}: not a pcap or pcapng capture: {description}")]
    NotACapture {
        /// The input.
        name: String,
        /// What its first bytes are and look like.
        description: String,
    },
    /// A capture whose file header cannot be read.
    #[error("{name}: {detail}")]
    BadCapture {
        /// The input.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// An invalid [`MeterConfig`](crate::MeterConfig) value.
    #[error("invalid meter setting: {0}")]
    Config(String),
    /// Writing flows failed.
    #[error("writing flows: {0}")]
    Output(io::Error),
    /// Building Arrow batches or writing Parquet failed.
    #[cfg(feature = "arrow")]
    #[error("writing flows: {0}")]
    Arrow(String),
}
