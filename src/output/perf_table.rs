//! `perf` events for people: a table in the manner of iperf3's, within 80 columns.
//! Transfers use binary units (KiB = 1024 bytes), bitrates decimal ones (Mbit/s = 10⁶
//! bit/s), as iperf3 does.

use std::fmt::{self, Write as _};

use super::perf::{
    Figures, Latency, PerfEnd, PerfInterval, PerfLatency, PerfMember, PerfStart, Role, Totals, Way,
};

/// `perf_start`: what the test is, then the header of the table that follows.
pub fn start(f: &mut fmt::Formatter<'_>, s: &PerfStart) -> fmt::Result {
    let i = &s.info;
    prefix(f, s.test)?;
    let who = match s.role {
        Role::Client => format!("connected to {}", s.peer),
        Role::Server => format!("test from {}", s.peer),
    };
    let streams = if i.streams == 1 { "stream" } else { "streams" };
    let mut what = format!(
        "{who}: {}, {} {streams} {}",
        i.protocol.to_uppercase(),
        i.streams,
        match (i.mode, s.role) {
            ("bidir", _) => "each way",
            ("reverse", Role::Client) | ("normal", Role::Server) => "receiving",
            _ => "sending",
        }
    );
    match (i.seconds, i.bytes, i.blocks) {
        (_, Some(b), _) => write!(what, ", {}", Bytes(b))?,
        (_, _, Some(k)) => write!(what, ", {k} blocks")?,
        (Some(t), _, _) => write!(what, ", {t} s")?,
        _ => {}
    }
    if i.bitrate > 0 {
        write!(what, " at {} per stream", Rate(i.bitrate as f64))?;
    }
    write!(f, "{what}")?;
    f.write_char('\n')?;
    prefix(f, s.test)?;
    write!(
        f,
        "  {} {}, buffers {} send / {} receive",
        Bytes(i.length),
        if i.protocol == "udp" {
            "datagrams"
        } else {
            "writes"
        },
        Bytes(i.sndbuf),
        Bytes(i.rcvbuf)
    )?;
    if let Some(w) = i.window {
        write!(f, " (--window {} asked)", Bytes(w))?;
    }
    if let Some(cc) = &i.congestion {
        write!(f, ", {cc}")?;
    }
    f.write_char('\n')?;
    prefix(f, s.test)?;
    if i.latency && s.role == Role::Client {
        return f.write_str(LATENCY_HEADER);
    }
    let bidir = i.mode == "bidir";
    let ways: &[Way] = match (i.mode, s.role) {
        ("bidir", _) => &[Way::Send, Way::Recv],
        ("reverse", Role::Client) | ("normal", Role::Server) => &[Way::Recv],
        _ => &[Way::Send],
    };
    for (n, way) in ways.iter().enumerate() {
        if n > 0 {
            f.write_char('\n')?;
            prefix(f, s.test)?;
        }
        f.write_str(&header(i.protocol == "udp", *way, bidir))?;
    }
    Ok(())
}

const LATENCY_HEADER: &str = "   Interval         Trans/s      p50      p90      p99      max";

fn header(udp: bool, way: Way, bidir: bool) -> String {
    let tag = match (bidir, way) {
        (false, _) => "[ ID]",
        (true, Way::Send) => "[TX  ID]",
        (true, Way::Recv) => "[RX  ID]",
    };
    let mut h = format!(
        "{tag:<5} {:^14} {:>10} {:>12}",
        "Interval", "Transfer", "Bitrate"
    );
    let _ = match (udp, way) {
        (false, Way::Send) => write!(h, " {:>6} {:>10} {:>9}", "Retr", "Cwnd", "RTT"),
        (false, Way::Recv) => write!(h, " {:>27}", "RTT"),
        (true, Way::Send) => write!(h, " {:>10}", "Datagrams"),
        (true, Way::Recv) => write!(h, " {:>10}  Lost/Total", "Jitter"),
    };
    h
}

/// `perf_interval`: a row per stream when there are several, then the sum.
pub fn interval(f: &mut fmt::Formatter<'_>, i: &PerfInterval) -> fmt::Result {
    let bidir_tag = i.bidir.then_some(match i.dir {
        Way::Send => "TX",
        Way::Recv => "RX",
    });
    let several = i.streams.len() > 1;
    let mut first = true;
    for s in i.streams.iter().filter(|_| several) {
        if !first {
            f.write_char('\n')?;
        }
        first = false;
        prefix(f, i.test)?;
        row(f, &tag(bidir_tag, s.stream), s, i.omitted)?;
    }
    if !first {
        f.write_char('\n')?;
    }
    prefix(f, i.test)?;
    match (several, i.streams.first()) {
        (false, Some(one)) => row(f, &tag(bidir_tag, one.stream), one, i.omitted),
        _ => row(f, &tag(bidir_tag, None), &i.sum, i.omitted),
    }
}

fn tag(way: Option<&str>, stream: Option<u32>) -> String {
    let id = stream.map_or_else(|| "SUM".to_owned(), |s| s.to_string());
    match way {
        Some(w) => format!("[{w}{id:>4}]"),
        None => format!("[{id:>3}]"),
    }
}

/// One row: interval, transfer, bitrate, then the columns of the stream's kind.
fn row(f: &mut fmt::Formatter<'_>, tag: &str, x: &Figures, omitted: bool) -> fmt::Result {
    write!(
        f,
        "{tag:<5} {:>6.2}-{:<5.2} s {:>10} {:>12}",
        x.start,
        x.end,
        Bytes(x.bytes).to_string(),
        Rate(x.bits_per_second).to_string()
    )?;
    if let Some(jitter) = x.jitter_ms {
        let lost = x.lost.unwrap_or(0);
        let total = x.packets.unwrap_or(0);
        write!(
            f,
            " {:>7.3} ms  {lost}/{total} ({})",
            jitter,
            Percent(x.lost_percent.unwrap_or(0.0))
        )?;
    } else if let Some(packets) = x.packets {
        write!(f, " {packets:>10}")?;
    } else if let Some(retr) = x.retransmits {
        write!(
            f,
            " {retr:>6} {:>10} {:>9}",
            x.cwnd.map(|c| Bytes(c).to_string()).unwrap_or_default(),
            x.rtt_us
                .map(Micros)
                .map(|r| r.to_string())
                .unwrap_or_default()
        )?;
    } else if let Some(rtt) = x.rtt_us.filter(|r| *r > 0) {
        write!(f, " {:>27}", Micros(rtt).to_string())?;
    }
    if omitted {
        f.write_str("  (omitted)")?;
    }
    Ok(())
}

/// `perf_end`: the sender's and the receiver's line, per stream when there are several,
/// then what else is known of the direction (UDP counts, RTT), and CPU use.
pub fn end(f: &mut fmt::Formatter<'_>, e: &PerfEnd) -> fmt::Result {
    prefix(f, e.test)?;
    f.write_str("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -")?;
    let mut lines: Vec<(String, &Totals, &str)> = Vec::new();
    if e.streams.len() > 1 {
        for s in &e.streams {
            lines.push((tag(None, Some(s.stream)), &s.sender, "sender"));
            lines.push((tag(None, Some(s.stream)), &s.receiver, "receiver"));
        }
    }
    let sum_tag = match e.streams.as_slice() {
        [one] => tag(None, Some(one.stream)),
        _ => tag(None, None),
    };
    lines.push((sum_tag.clone(), &e.sender, "sender"));
    lines.push((sum_tag, &e.receiver, "receiver"));
    for (tag, totals, side) in lines {
        f.write_char('\n')?;
        prefix(f, e.test)?;
        let figures = Figures {
            end: totals.seconds,
            bytes: totals.bytes,
            bits_per_second: totals.bits_per_second,
            ..Figures::default()
        };
        row(f, &tag, &figures, false)?;
        match totals.retransmits {
            Some(r) => write!(f, " {r:>6} retr  {side}")?,
            None => write!(f, " {:>6}       {side}", "")?,
        }
    }
    let direction = match (e.dir, e.role) {
        (Way::Send, Role::Client) | (Way::Recv, Role::Server) => "client → server",
        _ => "server → client",
    };
    if let Some(u) = &e.udp {
        f.write_char('\n')?;
        prefix(f, e.test)?;
        write!(
            f,
            "{direction}: lost {} of {} datagrams ({}), {} out of order, {} repeated, jitter {:.3} ms",
            u.lost,
            u.sent,
            Percent(u.lost_percent),
            u.out_of_order,
            u.duplicates,
            u.jitter_ms
        )?;
    }
    if let Some(r) = e.rtt {
        f.write_char('\n')?;
        prefix(f, e.test)?;
        write!(
            f,
            "{direction}: RTT {}/{}/{} (min/mean/max)",
            Micros(r.min_us),
            Micros(r.mean_us),
            Micros(r.max_us)
        )?;
        if let Some(c) = e.max_cwnd {
            write!(f, ", cwnd up to {}", Bytes(c))?;
        }
    }
    let c = e.cpu;
    f.write_char('\n')?;
    prefix(f, e.test)?;
    write!(
        f,
        "CPU: this side {:.1}% ({:.1}% user, {:.1}% system), the other {:.1}% ({:.1}% user, {:.1}% system)",
        c.local, c.local_user, c.local_system, c.remote, c.remote_user, c.remote_system
    )
}

/// `perf_latency`: an interval's round trips, or the test's with `final`.
pub fn latency(f: &mut fmt::Formatter<'_>, l: &PerfLatency) -> fmt::Result {
    prefix(f, l.test)?;
    let x: &Latency = &l.figures;
    if l.last {
        f.write_str("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n")?;
        prefix(f, l.test)?;
    }
    write!(
        f,
        "{:>6.2}-{:<5.2} s {:>15.0} {:>8} {:>8} {:>8} {:>8}",
        x.start,
        x.end,
        x.per_second,
        Micros(x.p50_us.round() as u32).to_string(),
        Micros(x.p90_us.round() as u32).to_string(),
        Micros(x.p99_us.round() as u32).to_string(),
        Micros(x.max_us.round() as u32).to_string(),
    )?;
    if let Some(lost) = x.lost.filter(|n| *n > 0) {
        write!(f, "  {lost} lost")?;
    }
    if l.last {
        write!(
            f,
            "  {} round trips, min {}, mean {}",
            x.transactions,
            Micros(x.min_us.round() as u32),
            Micros(x.mean_us.round() as u32)
        )?;
    }
    Ok(())
}

/// `perf_member`: one member's report on a multicast test.
pub fn member(f: &mut fmt::Formatter<'_>, m: &PerfMember) -> fmt::Result {
    let x = &m.figures;
    write!(
        f,
        "[{}] group {}: {} in {:.2} s ({}), lost {} of {} ({}), {} out of order, jitter {:.3} ms",
        m.peer,
        m.group,
        Bytes(x.bytes),
        x.seconds,
        Rate(x.bits_per_second),
        x.udp.lost,
        x.udp.sent,
        Percent(x.udp.lost_percent),
        x.udp.out_of_order,
        x.udp.jitter_ms
    )
}

/// `#N ` before each line of a server's test.
fn prefix(f: &mut fmt::Formatter<'_>, test: Option<u64>) -> fmt::Result {
    match test {
        Some(n) => write!(f, "#{n} "),
        None => Ok(()),
    }
}

/// Bytes with a binary prefix and three significant digits, as iperf3 shows transfers.
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut v = self.0 as f64;
        let mut unit = 0;
        while v >= 1000.0 && unit < UNITS.len() - 1 {
            v /= 1024.0;
            unit += 1;
        }
        three_digits(f, v, UNITS[unit])
    }
}

/// Bits per second with a decimal prefix and three significant digits.
pub struct Rate(pub f64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
        let mut v = if self.0.is_finite() {
            self.0.max(0.0)
        } else {
            0.0
        };
        let mut unit = 0;
        while v >= 999.5 && unit < UNITS.len() - 1 {
            v /= 1000.0;
            unit += 1;
        }
        three_digits(f, v, UNITS[unit])
    }
}

fn three_digits(f: &mut fmt::Formatter<'_>, v: f64, unit: &str) -> fmt::Result {
    if v == 0.0 || unit == "B" || unit == "bit/s" {
        write!(f, "{:.0} {unit}", v)
    } else if v < 9.995 {
        write!(f, "{v:.2} {unit}")
    } else if v < 99.95 {
        write!(f, "{v:.1} {unit}")
    } else {
        write!(f, "{v:.0} {unit}")
    }
}

/// Microseconds, as µs below 10 ms and as ms above.
struct Micros(u32);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10_000 {
            write!(f, "{} µs", self.0)
        } else {
            write!(f, "{:.1} ms", f64::from(self.0) / 1000.0)
        }
    }
}

/// A share in percent, with as many decimals as a small one needs.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0.0 => f.write_str("0%"),
            p if p < 0.01 => write!(f, "{p:.4}%"),
            p if p < 10.0 => write!(f, "{p:.2}%"),
            p => write!(f, "{p:.1}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_as_iperf3s() {
        assert_eq!(Bytes(2_621_440).to_string(), "2.50 MiB");
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(28_346_654_720).to_string(), "26.4 GiB");
        assert_eq!(Rate(10_485_330.1).to_string(), "10.5 Mbit/s");
        assert_eq!(Rate(22_700_000_000.0).to_string(), "22.7 Gbit/s");
        assert_eq!(Rate(999_600.0).to_string(), "1.00 Mbit/s");
        assert_eq!(Rate(f64::NAN).to_string(), "0 bit/s");
        assert_eq!(Micros(25).to_string(), "25 µs");
        assert_eq!(Micros(12_345).to_string(), "12.3 ms");
        assert_eq!(Percent(0.013).to_string(), "0.01%");
        assert_eq!(Percent(0.0013).to_string(), "0.0013%");
    }
}
