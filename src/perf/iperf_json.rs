//! `--iperf-json`: iperf3's `-J` document (section 9), with its names, nesting and
//! types, for scripts written against iperf3. Streams are numbered by their socket's
//! file descriptor, as iperf3's are.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use serde_json::{json, Map, Value};

use super::meter::Row;
use super::params::{Params, Protocol};
use super::stream::Stream;
use super::summary::DirectionEnd;
use crate::output::perf::{CpuUse, Figures, Role, TestInfo, Totals, Way};

/// The document as it fills up; an error alone still makes a document (section 7.5).
#[derive(Default)]
pub struct Doc {
    pub start: Value,
    pub intervals: Vec<Value>,
    pub end: Value,
    pub error: Option<String>,
}

impl Doc {
    /// The document, pretty (the client, as iperf3 prints it) or on one line (a
    /// server's, one per test).
    pub fn render(&self, pretty: bool) -> String {
        let mut doc = Map::new();
        let start = match &self.start {
            Value::Null => {
                json!({"connected": [], "version": version(), "system_info": system_info()})
            }
            s => s.clone(),
        };
        doc.insert("start".into(), start);
        doc.insert("intervals".into(), Value::Array(self.intervals.clone()));
        doc.insert(
            "end".into(),
            match &self.end {
                Value::Null => json!({}),
                e => e.clone(),
            },
        );
        if let Some(e) = &self.error {
            doc.insert("error".into(), Value::String(e.clone()));
        }
        let doc = Value::Object(doc);
        if pretty {
            serde_json::to_string_pretty(&doc)
        } else {
            serde_json::to_string(&doc)
        }
        .unwrap_or_default()
    }
}

fn version() -> String {
    format!("sockit {} (iperf 3.12 protocol)", env!("CARGO_PKG_VERSION"))
}

/// `uname -a`, as iperf3's `system_info`.
fn system_info() -> String {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    format!(
        "{} {} {} {} {}",
        s(u.sysname()),
        s(u.nodename()),
        s(u.release()),
        s(u.version()),
        s(u.machine())
    )
}

/// What `start` is made of.
pub struct Start<'a> {
    pub role: Role,
    pub peer: SocketAddr,
    pub params: &'a Params,
    pub info: &'a TestInfo,
    pub streams: &'a [Stream],
    /// The control connection's MSS.
    pub mss: Option<u32>,
}

pub fn start(s: &Start) -> Value {
    let p = s.params;
    let tcp = p.protocol() != Protocol::Udp;
    let connected: Vec<Value> = s
        .streams
        .iter()
        .map(|st| {
            let fd = st.sock.fd();
            let local = rustix::net::getsockname(fd)
                .ok()
                .and_then(|a| SocketAddr::try_from(a).ok());
            let remote = rustix::net::getpeername(fd)
                .ok()
                .flatten()
                .and_then(|a| SocketAddr::try_from(a).ok());
            json!({
                "socket": fd.as_raw_fd(),
                "local_host": local.map(|a| a.ip().to_canonical().to_string()),
                "local_port": local.map(|a| a.port()),
                "remote_host": remote.map(|a| a.ip().to_canonical().to_string()),
                "remote_port": remote.map(|a| a.port()),
            })
        })
        .collect();
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut start = json!({
        "connected": connected,
        "version": version(),
        "system_info": system_info(),
        "timestamp": {"time": httpdate::fmt_http_date(now), "timesecs": secs},
    });
    let peer = json!({"host": s.peer.ip().to_canonical().to_string(), "port": s.peer.port()});
    let o = start.as_object_mut().expect("an object");
    match s.role {
        Role::Client => o.insert("connecting_to".into(), peer),
        Role::Server => o.insert("accepted_connection".into(), peer),
    };
    o.insert("cookie".into(), json!(s.info.cookie));
    if tcp {
        match p.mss {
            Some(m) => o.insert("tcp_mss".into(), json!(m)),
            None => o.insert("tcp_mss_default".into(), json!(s.mss.unwrap_or(0))),
        };
    }
    o.insert("target_bitrate".into(), json!(s.info.bitrate));
    o.insert("sock_bufsize".into(), json!(p.window.unwrap_or(0)));
    o.insert("sndbuf_actual".into(), json!(s.info.sndbuf));
    o.insert("rcvbuf_actual".into(), json!(s.info.rcvbuf));
    o.insert(
        "test_start".into(),
        json!({
            "protocol": if tcp { "TCP" } else { "UDP" },
            "num_streams": p.parallel,
            "blksize": p.block_len(),
            "omit": p.omit,
            "duration": p.time,
            "bytes": p.num,
            "blocks": p.blockcount,
            "reverse": u8::from(p.reverse),
            "tos": p.tos.unwrap_or(0),
            "target_bitrate": s.info.bitrate,
        }),
    );
    start
}

fn socket_of(streams: &[Stream], id: Option<u32>) -> i32 {
    streams
        .iter()
        .find(|s| Some(s.id) == id)
        .map_or(0, |s| s.sock.fd().as_raw_fd())
}

/// One interval's per-stream or sum object.
fn interval_figures(f: &Figures, way: Way, udp: bool, omitted: bool, socket: Option<i32>) -> Value {
    let mut o = Map::new();
    if let Some(fd) = socket {
        o.insert("socket".into(), json!(fd));
    }
    o.insert("start".into(), json!(f.start));
    o.insert("end".into(), json!(f.end));
    o.insert("seconds".into(), json!(f.seconds()));
    o.insert("bytes".into(), json!(f.bytes));
    o.insert("bits_per_second".into(), json!(f.bits_per_second));
    match (udp, way) {
        (false, Way::Send) => {
            if let Some(r) = f.retransmits {
                o.insert("retransmits".into(), json!(r));
            }
            if socket.is_some() && f.cwnd.is_some() {
                o.insert("snd_cwnd".into(), json!(f.cwnd.unwrap_or(0)));
                o.insert("snd_wnd".into(), json!(f.snd_wnd.unwrap_or(0)));
                o.insert("rtt".into(), json!(f.rtt_us.unwrap_or(0)));
                o.insert("rttvar".into(), json!(f.rttvar_us.unwrap_or(0)));
                o.insert("pmtu".into(), json!(f.pmtu.unwrap_or(0)));
            }
        }
        (true, Way::Send) => {
            o.insert("packets".into(), json!(f.packets.unwrap_or(0)));
        }
        (true, Way::Recv) => {
            o.insert("jitter_ms".into(), json!(f.jitter_ms.unwrap_or(0.0)));
            o.insert("lost_packets".into(), json!(f.lost.unwrap_or(0)));
            o.insert("packets".into(), json!(f.packets.unwrap_or(0)));
            o.insert("lost_percent".into(), json!(f.lost_percent.unwrap_or(0.0)));
        }
        (false, Way::Recv) => {}
    }
    o.insert("omitted".into(), json!(omitted));
    o.insert("sender".into(), json!(way == Way::Send));
    Value::Object(o)
}

/// `intervals`: each interval's streams and sums; in a bidirectional test `sum` is this
/// side's sending direction and `sum_bidir_reverse` its receiving one.
pub fn intervals(rows: &[Row], streams: &[Stream]) -> Vec<Value> {
    let udp = streams.first().is_some_and(Stream::is_udp);
    let mut out: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        // The rows of one interval share its start and end.
        let mut j = i + 1;
        while j < rows.len() && rows[j].sum.start == rows[i].sum.start && rows[j].way != rows[i].way
        {
            j += 1;
        }
        let group = &rows[i..j];
        let mut o = Map::new();
        let all: Vec<Value> = group
            .iter()
            .flat_map(|r| {
                r.streams.iter().map(move |f| {
                    interval_figures(f, r.way, udp, r.omitted, Some(socket_of(streams, f.stream)))
                })
            })
            .collect();
        o.insert("streams".into(), Value::Array(all));
        let bidir = group.len() > 1;
        for r in group {
            let key = if bidir && r.way == Way::Recv {
                "sum_bidir_reverse"
            } else {
                "sum"
            };
            o.insert(
                key.into(),
                interval_figures(&r.sum, r.way, udp, r.omitted, None),
            );
        }
        out.push(Value::Object(o));
        i = j;
    }
    out
}

/// What `end` is made of.
pub struct End<'a> {
    pub ends: &'a [DirectionEnd],
    pub streams: &'a [Stream],
    pub udp: bool,
    pub bidir: bool,
    pub cpu: CpuUse,
    pub local_congestion: Option<String>,
    pub remote_congestion: Option<String>,
    /// Interval rows past `meter::MAX_KEPT_FIGURES`, not in `intervals`.
    pub intervals_left_out: usize,
}

fn totals(t: &Totals, sender: bool, retransmits: bool) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("start".into(), json!(0));
    o.insert("end".into(), json!(t.seconds));
    o.insert("seconds".into(), json!(t.seconds));
    o.insert("bytes".into(), json!(t.bytes));
    o.insert("bits_per_second".into(), json!(t.bits_per_second));
    if retransmits {
        o.insert("retransmits".into(), json!(t.retransmits.unwrap_or(0)));
    }
    o.insert("sender".into(), json!(sender));
    o
}

pub fn end(e: &End) -> Value {
    let mut o = Map::new();
    let mut streams = Vec::new();
    for d in e.ends {
        let sender = d.way == Way::Send;
        for s in &d.streams {
            let socket = socket_of(e.streams, Some(s.stream));
            if let Some(u) = &s.udp {
                let mut x = totals(&s.sender, sender, false);
                x.insert("socket".into(), json!(socket));
                x.insert("jitter_ms".into(), json!(u.jitter_ms));
                x.insert("lost_packets".into(), json!(u.lost));
                x.insert("packets".into(), json!(u.sent));
                x.insert("lost_percent".into(), json!(u.lost_percent));
                x.insert("out_of_order".into(), json!(u.out_of_order));
                streams.push(json!({"udp": x}));
                continue;
            }
            let mut snd = totals(&s.sender, sender, true);
            snd.insert("socket".into(), json!(socket));
            let rtt = s.rtt.unwrap_or_default();
            snd.insert("max_snd_cwnd".into(), json!(s.max_cwnd.unwrap_or(0)));
            snd.insert("max_snd_wnd".into(), json!(s.max_snd_wnd.unwrap_or(0)));
            snd.insert("max_rtt".into(), json!(rtt.max_us));
            snd.insert("min_rtt".into(), json!(rtt.min_us));
            snd.insert("mean_rtt".into(), json!(rtt.mean_us));
            let mut rcv = totals(&s.receiver, sender, false);
            rcv.insert("socket".into(), json!(socket));
            streams.push(json!({"sender": snd, "receiver": rcv}));
        }
    }
    o.insert("streams".into(), Value::Array(streams));
    for d in e.ends {
        let sender = d.way == Way::Send;
        let suffix = if e.bidir && d.way == Way::Recv {
            "_bidir_reverse"
        } else {
            ""
        };
        let mut sent = totals(&d.sender, sender, !e.udp);
        let mut received = totals(&d.receiver, sender, false);
        if let Some(u) = &d.udp {
            for (m, jitter) in [(&mut sent, 0.0), (&mut received, u.jitter_ms)] {
                m.insert("jitter_ms".into(), json!(jitter));
                m.insert("lost_packets".into(), json!(u.lost));
                m.insert("packets".into(), json!(u.sent));
                m.insert("lost_percent".into(), json!(u.lost_percent));
            }
            if suffix.is_empty() {
                o.insert("sum".into(), Value::Object(received.clone()));
            }
        }
        o.insert(format!("sum_sent{suffix}"), Value::Object(sent));
        o.insert(format!("sum_received{suffix}"), Value::Object(received));
    }
    let c = e.cpu;
    o.insert(
        "cpu_utilization_percent".into(),
        json!({
            "host_total": c.local, "host_user": c.local_user, "host_system": c.local_system,
            "remote_total": c.remote, "remote_user": c.remote_user, "remote_system": c.remote_system,
        }),
    );
    if !e.udp {
        let sends = e.ends.iter().any(|d| d.way == Way::Send);
        let (snd, rcv) = if sends {
            (&e.local_congestion, &e.remote_congestion)
        } else {
            (&e.remote_congestion, &e.local_congestion)
        };
        if let Some(cc) = snd {
            o.insert("sender_tcp_congestion".into(), json!(cc));
        }
        if let Some(cc) = rcv {
            o.insert("receiver_tcp_congestion".into(), json!(cc));
        }
    }
    if e.intervals_left_out > 0 {
        o.insert(
            "sockit_intervals_left_out".into(),
            json!(e.intervals_left_out),
        );
    }
    Value::Object(o)
}
