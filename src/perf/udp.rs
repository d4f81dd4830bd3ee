//! UDP data streams (sections 4.3 and 4.4): the hello that opens a stream and its answer,
//! the header at the start of every datagram, and what the receiver counts from it.

/// The header with 32-bit sequence numbers: seconds, microseconds, sequence, all BE.
pub const HEADER_LEN_32: usize = 12;
/// With `udp_counters_64bit`: the sequence number is a BE u64 at offset 8.
pub const HEADER_LEN_64: usize = 16;

/// The client's hello, 0x36373839 in a little-endian host's order (`"9876"`): what 3.12
/// sends on the machines it runs on, and what we always send.
pub const HELLO: [u8; 4] = *b"9876";
/// The answer a little-endian 3.12 client requires (0x39383736 in its order, `"6789"`).
pub const REPLY: [u8; 4] = *b"6789";
/// Old iperf3 releases: 123456789 and 987654321, little-endian.
pub const LEGACY_HELLO: [u8; 4] = 123_456_789u32.to_le_bytes();
pub const LEGACY_REPLY: [u8; 4] = 987_654_321u32.to_le_bytes();

/// The server's answer to a hello, in the byte order the hello shows (section 4.3):
/// a big-endian client's hello gets the big-endian answer, a legacy hello the legacy
/// answer in its order, anything else the little-endian new answer (3.12 does not look
/// at the hello at all and always answers in its own order).
pub fn reply_to(hello: &[u8]) -> [u8; 4] {
    let swapped = |b: [u8; 4]| [b[3], b[2], b[1], b[0]];
    match hello {
        h if h == REPLY => HELLO,
        h if h == LEGACY_HELLO => LEGACY_REPLY,
        h if h == swapped(LEGACY_HELLO) => swapped(LEGACY_REPLY),
        _ => REPLY,
    }
}

/// Whether a datagram the client got after its hello is the server's answer: the new or
/// the legacy value, in either byte order (a 3.12 client accepts only its own order; we
/// accept what any server may send).
pub fn is_reply(datagram: &[u8]) -> bool {
    let swapped = |b: [u8; 4]| [b[3], b[2], b[1], b[0]];
    [REPLY, HELLO, LEGACY_REPLY, swapped(LEGACY_REPLY)]
        .iter()
        .any(|r| datagram == r)
}

/// In reverse mode data may overtake the answer: a client skips this many longer
/// datagrams before it gives up (as 3.12 does).
pub const REPLY_SKIP: usize = 2;

/// The header of a data datagram. `sec`/`usec` are the sender's clock (3.12: monotonic,
/// so only differences mean anything); `seq` starts at 1 on every stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub sec: u32,
    pub usec: u32,
    pub seq: u64,
}

impl Header {
    /// The header's length with 32- or 64-bit counters.
    pub fn size(wide: bool) -> usize {
        if wide {
            HEADER_LEN_64
        } else {
            HEADER_LEN_32
        }
    }

    /// Writes the header at the start of `buf`, which must hold `Header::size(wide)`
    /// bytes. With 32-bit counters the sequence number is cut to 32 bits, as iperf3 does
    /// (it wraps after 2³²−1 datagrams).
    pub fn encode(&self, buf: &mut [u8], wide: bool) {
        buf[0..4].copy_from_slice(&self.sec.to_be_bytes());
        buf[4..8].copy_from_slice(&self.usec.to_be_bytes());
        if wide {
            buf[8..16].copy_from_slice(&self.seq.to_be_bytes());
        } else {
            buf[8..12].copy_from_slice(&(self.seq as u32).to_be_bytes());
        }
    }

    /// Reads the header of a datagram; `None` when it is too short to have one. Nothing
    /// in the datagram says which counter width it uses: the parameters do.
    pub fn decode(buf: &[u8], wide: bool) -> Option<Header> {
        if buf.len() < Header::size(wide) {
            return None;
        }
        let word = |at: usize| u32::from_be_bytes(buf[at..at + 4].try_into().unwrap());
        let seq = if wide {
            u64::from_be_bytes(buf[8..16].try_into().unwrap())
        } else {
            word(8).into()
        };
        Some(Header {
            sec: word(0),
            usec: word(4),
            seq,
        })
    }

    /// The send time in seconds.
    pub fn stamp(&self) -> f64 {
        f64::from(self.sec) + f64::from(self.usec) / 1e6
    }
}

/// How far below the highest sequence number a repeat is still recognised: 2¹⁶
/// datagrams (8 KiB of bits per stream), far more than any path reorders.
pub const SEEN_WINDOW: u64 = 1 << 16;

/// What a UDP receiver counts on one stream: iperf3 3.12's figures exactly (section 4.4;
/// the doc's crafted-datagram checks are the unit tests), and beside them the distinct
/// datagrams that arrived, so that once the sender's count is known the loss is exact:
/// `sent − unique`, tail losses and repeats included (`exact_lost`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UdpStats {
    /// The highest sequence number seen: iperf3's receiver `packets`.
    pub max_seq: u64,
    /// Lost datagrams: gaps, less one per late arrival while there are any.
    pub errors: u64,
    /// Datagrams at or below `max_seq` (late or repeated).
    pub out_of_order: u64,
    /// Datagrams counted, repeats included.
    pub received: u64,
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Datagrams whose sequence number had already arrived (within `SEEN_WINDOW`).
    pub duplicates: u64,
    /// Smoothed jitter in seconds (RFC 3550 §6.4.1).
    pub jitter: f64,
    /// When the last datagram arrived, on the receiver's clock (`clock::now_secs`).
    pub last_arrival: f64,
    prev_transit: Option<f64>,
    seen: Seen,
}

impl UdpStats {
    /// Counts one datagram that arrived at `arrival` seconds of the receiver's clock.
    pub fn record(&mut self, header: &Header, arrival: f64) {
        self.received += 1;
        self.last_arrival = arrival;
        let seq = header.seq;
        if self.seen.insert(seq, self.max_seq) {
            self.unique += 1;
        } else {
            self.duplicates += 1;
        }
        if seq > self.max_seq {
            self.errors = self.errors.saturating_add(seq - self.max_seq - 1);
            self.max_seq = seq;
        } else {
            // Late, or a duplicate (iperf3 cannot tell them apart): it cancels one loss.
            self.out_of_order += 1;
            self.errors = self.errors.saturating_sub(1);
        }
        let transit = arrival - header.stamp();
        let d = (transit - self.prev_transit.unwrap_or(transit)).abs();
        self.prev_transit = Some(transit);
        self.jitter += (d - self.jitter) / 16.0;
    }

    /// iperf3's loss percentage: errors over the sender's count when known, else over
    /// the receiver's `max_seq`.
    pub fn lost_percent(&self, sent: Option<u64>) -> f64 {
        match sent.unwrap_or(self.max_seq) {
            0 => 0.0,
            total => 100.0 * self.errors as f64 / total as f64,
        }
    }

    /// Datagrams lost, counted from sequence numbers against the sender's count: every
    /// number from 1 to `sent` that never arrived, at the end of the test too.
    pub fn exact_lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }

    /// Late datagrams (arrived below the highest number), repeats left out.
    pub fn reordered(&self) -> u64 {
        self.out_of_order - self.duplicates.min(self.out_of_order)
    }
}

/// The sequence numbers received within `SEEN_WINDOW` of the highest, as a ring of bits;
/// allocated at the first datagram.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    bits: Vec<u64>,
}

impl Seen {
    /// Marks `seq` received, given the highest seen before it; false when it already
    /// was. A number older than the window counts as new: it cannot be checked, and
    /// nothing reorders that far.
    fn insert(&mut self, seq: u64, max: u64) -> bool {
        const WORDS: usize = (SEEN_WINDOW / 64) as usize;
        if self.bits.is_empty() {
            self.bits = vec![0; WORDS];
        }
        if seq > max {
            // The numbers between the old and the new highest have not arrived: clear
            // their bits, which may still hold numbers a window older.
            let clear_from = max.max(seq.saturating_sub(SEEN_WINDOW)) + 1;
            for n in clear_from..seq {
                self.set(n, false);
            }
        } else if max - seq >= SEEN_WINDOW {
            return true;
        } else if self.get(seq) {
            return false;
        }
        self.set(seq, true);
        true
    }

    fn get(&self, n: u64) -> bool {
        let i = (n % SEEN_WINDOW) as usize;
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, n: u64, on: bool) {
        let i = (n % SEEN_WINDOW) as usize;
        if on {
            self.bits[i / 64] |= 1 << (i % 64);
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
        }
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
