//! The results each side sends after EXCHANGE_RESULTS (section 6): the client's first,
//! then the server's, in the same framing as the parameters.
//!
//! 3.12 writes the `-1` of `sender_has_retransmits` and `retransmits` as
//! 18446744073709551615 (2⁶⁴−1); the signed fields here read that, and any value of 2⁶³
//! or more, as −1, and write a plain `-1`, which every version reads. Keys we do not know
//! are ignored; the keys 3.12 requires are required here too (a missing one is iperf3's
//! `IERECVRESULTS`).

use serde::{Deserialize, Deserializer, Serialize};

/// `sender_has_retransmits`: this side sent TCP and can count retransmits.
pub const HAS_RETRANSMITS: i64 = 1;
/// `sender_has_retransmits`: this side sent but has no count (UDP, no `TCP_INFO`).
pub const NO_RETRANSMITS: i64 = 0;
/// `sender_has_retransmits` and `retransmits`: this side only received / not known.
pub const NOT_SENDER: i64 = -1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Percent of one CPU over the test.
    #[serde(serialize_with = "finite")]
    pub cpu_util_total: f64,
    #[serde(serialize_with = "finite")]
    pub cpu_util_user: f64,
    #[serde(serialize_with = "finite")]
    pub cpu_util_system: f64,
    /// `HAS_RETRANSMITS`, `NO_RETRANSMITS` or `NOT_SENDER`.
    #[serde(deserialize_with = "signed")]
    pub sender_has_retransmits: i64,
    /// TCP: this side's congestion control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion_used: Option<String>,
    /// One per data stream of this side, in creation order.
    pub streams: Vec<StreamResult>,
    /// Server only, with `get_server_output`: what a text-mode server printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_output_text: Option<String>,
    /// Server only, with `get_server_output`: a `-J` server's document so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_output_json: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamResult {
    /// 1, 3, 4, … (id 2 is never used; section 4.1).
    pub id: u32,
    /// Sent (this side's sending stream) or received.
    pub bytes: u64,
    /// TCP sender's retransmits, or `NOT_SENDER`.
    #[serde(deserialize_with = "signed")]
    pub retransmits: i64,
    /// UDP receiver: jitter in **seconds**; otherwise 0.
    #[serde(serialize_with = "finite")]
    pub jitter: f64,
    /// UDP receiver: lost datagrams (`UdpStats::errors`); otherwise 0.
    #[serde(deserialize_with = "signed")]
    pub errors: i64,
    /// UDP: datagrams sent, or the highest sequence number received; TCP 0.
    #[serde(deserialize_with = "signed")]
    pub packets: i64,
    /// Always 0 when present; absent before 3.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    /// Seconds from the stream's start to this side's last statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// Newer versions only (never sent by 3.12): both or neither; see `omitted()`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "signed_some"
    )]
    pub omitted_errors: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "signed_some"
    )]
    pub omitted_packets: Option<i64>,
    /// sockit's own keys (iperf3 ignores keys it does not know), sent by a UDP
    /// receiver so that a sockit sender can count losses exactly: the distinct datagrams
    /// that arrived, those that came late, and those that came twice.
    #[serde(flatten)]
    pub exact: Option<Exact>,
}

/// A sockit UDP receiver's exact counts (docs/perf-protocol.md, "sockit's additions").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exact {
    pub sockit_unique: u64,
    pub sockit_out_of_order: u64,
    pub sockit_duplicates: u64,
}

impl StreamResult {
    /// The peer's duration for this stream, `end_time − start_time` (0 when absent).
    pub fn seconds(&self) -> f64 {
        self.end_time.unwrap_or(0.0) - self.start_time.unwrap_or(0.0)
    }

    /// The omitted period's (errors, packets) of a newer peer; `Err` when only one of
    /// the two is there, which newer iperf3 versions refuse as well.
    pub fn omitted(&self) -> Result<Option<(i64, i64)>, &'static str> {
        match (self.omitted_errors, self.omitted_packets) {
            (Some(e), Some(p)) => Ok(Some((e, p))),
            (None, None) => Ok(None),
            _ => Err("omitted_errors and omitted_packets come together or not at all"),
        }
    }
}

/// A signed integer that iperf3 may have written as an unsigned 64-bit one: 2⁶³ and
/// above (2⁶⁴−1 is −1 as 3.12 prints it) read as −1. A fraction is cut off, as iperf3's
/// own reader keeps only the integer part.
fn signed<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct Signed;
    impl serde::de::Visitor<'_> for Signed {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E>(self, v: u64) -> Result<i64, E> {
            Ok(i64::try_from(v).unwrap_or(NOT_SENDER))
        }
        fn visit_f64<E>(self, v: f64) -> Result<i64, E> {
            // `as` saturates: anything at or past 2⁶³ becomes i64::MAX, then −1 below.
            let v = v as i64;
            Ok(if v == i64::MAX { NOT_SENDER } else { v })
        }
    }
    d.deserialize_any(Signed)
}

/// serde_json writes a NaN or an infinity as `null`, which iperf3 reads as 0 but a
/// reader that requires a number refuses: write 0 instead (a CPU share over a zero wall
/// time, say).
fn finite<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(if v.is_finite() { *v } else { 0.0 })
}

fn signed_some<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    signed(d).map(Some)
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
