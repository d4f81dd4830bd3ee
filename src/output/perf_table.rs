//! `perf` events for people: a table in the manner of iperf3's, within 80 columns.
//! Transfers use binary units (KiB = 1024 bytes), bitrates decimal ones (Mbit/s = 10⁶
//! bit/s), as iperf3 does.

use std::fmt::{self, Write as _};

use super::perf::{
    Figures, Latency, PerfEnd, PerfInterval, PerfLatency, PerfMember, PerfStart, Role, Totals, Way,
};
pub use super::perf_units::{Bytes, Rate};
use super::perf_units::{Micros, Percent};

/// `perf_start`: what the test is, then the header of the table that follows.
pub fn start(f: &mut fmt::Formatter<'_>, s: &PerfStart) -> fmt::Result {
    let i = &s.info;
    let streams = if i.streams == 1 { "stream" } else { "streams" };
    let mut first = format!(
        "{} {}: {}, {} {streams} {}",
        match s.role {
            Role::Client => "test with",
            Role::Server => "test from",
        },
        s.peer,
        i.protocol.to_uppercase(),
        i.streams,
        match (i.mode, s.role) {
            ("bidir", _) => "each way",
            ("reverse", Role::Client) | ("normal", Role::Server) => "receiving",
            _ => "sending",
        }
    );
    match (i.seconds, i.bytes, i.blocks) {
        (_, Some(b), _) => write!(first, ", {}", Bytes(b))?,
        (_, _, Some(k)) => write!(first, ", {k} blocks")?,
        (Some(t), _, _) => write!(first, ", {t} s")?,
        _ => {}
    }
    let mut second = format!(
        "  {} {}",
        Bytes(i.length),
        if i.protocol == "udp" {
            "datagrams"
        } else {
            "writes"
        }
    );
    if i.bitrate > 0 {
        write!(second, " at {} per stream", Rate(i.bitrate as f64))?;
    }
    if let Some(cc) = &i.congestion {
        write!(second, ", {cc}")?;
    }
    let mut third = format!(
        "  buffers {} send / {} receive",
        Bytes(i.sndbuf),
        Bytes(i.rcvbuf)
    );
    if let Some(w) = i.window {
        write!(third, " (--window {} asked)", Bytes(w))?;
    }
    let mut lines = vec![first, second, third];
    if i.omit > 0.0 {
        lines.push(format!(
            "  * marks the first {} s, left out of every total",
            i.omit
        ));
    }
    for line in lines {
        prefix(f, s.test)?;
        f.write_str(&line)?;
        f.write_char('\n')?;
    }
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

const LATENCY_HEADER: &str = "Interval (s)    Trans/s        p50        p90        p99        max";

fn header(udp: bool, way: Way, bidir: bool) -> String {
    let tag = match (bidir, way) {
        (false, _) => "[ ID]",
        (true, Way::Send) => "[TX  ID]",
        (true, Way::Recv) => "[RX  ID]",
    };
    let mut h = format!(
        "{tag:<5} {:<13} {:>9} {:>11}",
        "Interval (s)", "Transfer", "Bitrate"
    );
    let _ = match (udp, way) {
        (false, Way::Send) => write!(h, " {:>6} {:>9} {:>8}", "Retr", "Cwnd", "RTT"),
        (false, Way::Recv) => write!(h, " {:>25}", "RTT"),
        (true, Way::Send) => write!(h, " {:>10}", "Datagrams"),
        (true, Way::Recv) => write!(h, " {:>9} Lost/Total", "Jitter"),
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
        "{tag:<5}{}{:>6.2}-{:<6.2} {:>9} {:>11}",
        if omitted { '*' } else { ' ' },
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
            " {:>9} {lost}/{total} ({})",
            format!("{jitter:.3} ms"),
            Percent(x.lost_percent.unwrap_or(0.0))
        )?;
    } else if let Some(packets) = x.packets {
        write!(f, " {packets:>10}")?;
    } else if let Some(retr) = x.retransmits {
        write!(
            f,
            " {retr:>6} {:>9} {:>8}",
            x.cwnd.map(|c| Bytes(c).to_string()).unwrap_or_default(),
            x.rtt_us
                .map(Micros)
                .map(|r| r.to_string())
                .unwrap_or_default()
        )?;
    } else if let Some(rtt) = x.rtt_us.filter(|r| *r > 0) {
        write!(f, " {:>25}", Micros(rtt).to_string())?;
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
            "{direction}: lost {}/{} ({}), jitter {:.3} ms",
            u.lost,
            u.sent,
            Percent(u.lost_percent),
            u.jitter_ms
        )?;
        f.write_char('\n')?;
        prefix(f, e.test)?;
        write!(
            f,
            "  {} came late, {} came twice",
            u.out_of_order, u.duplicates
        )?;
    }
    if let Some(r) = e.rtt {
        f.write_char('\n')?;
        prefix(f, e.test)?;
        write!(
            f,
            "{direction}: RTT min {} mean {} max {}",
            Micros(r.min_us),
            Micros(r.mean_us),
            Micros(r.max_us)
        )?;
        if let Some(c) = e.max_cwnd {
            write!(f, ", cwnd {}", Bytes(c))?;
        }
    }
    let c = e.cpu;
    f.write_char('\n')?;
    prefix(f, e.test)?;
    write!(
        f,
        "CPU: here {:.1}% ({:.1} user, {:.1} sys), there {:.1}% ({:.1} user, {:.1} sys)",
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
        "{:>6.2}-{:<6.2} {:>9.0} {:>10} {:>10} {:>10} {:>10}",
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
        f.write_char('\n')?;
        prefix(f, l.test)?;
        write!(
            f,
            "{} round trips, min {}, mean {}",
            x.transactions,
            Micros(x.min_us.round() as u32),
            Micros(x.mean_us.round() as u32)
        )?;
    }
    Ok(())
}

/// `perf_member`: one member's report on a multicast test, on three lines.
pub fn member(f: &mut fmt::Formatter<'_>, m: &PerfMember) -> fmt::Result {
    let x = &m.figures;
    write!(
        f,
        "[{}] group {}:\n  {} in {:.2} s, {}\n  lost {}/{} ({}), {} late, {} twice, jitter {:.3} ms",
        m.peer,
        m.group,
        Bytes(x.bytes),
        x.seconds,
        Rate(x.bits_per_second),
        x.udp.lost,
        x.udp.sent,
        Percent(x.udp.lost_percent),
        x.udp.out_of_order,
        x.udp.duplicates,
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

#[cfg(test)]
#[path = "perf_table_tests.rs"]
mod tests;
