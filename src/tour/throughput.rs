//! 二, measured: the same loopback link with a small and a large window (`perf -w`),
//! run with the real `sockit perf serve` and `sockit perf`.

use anyhow::Context as _;
use serde_json::Value;

use super::real;
use super::{Demo, Lesson};

/// The two windows compared: one far below what loopback needs, one well above.
const WINDOWS: [(&str, u64); 2] = [("8KiB", 8 << 10), ("4MiB", 4 << 20)];

/// What one `perf` run showed.
struct Run {
    sndbuf: u64,
    rcvbuf: u64,
    bits_per_second: f64,
    rtt_us: Option<u64>,
}

pub async fn throughput(l: &mut Lesson) -> Demo {
    let mut server = real::spawn(&["perf", "serve", "--bind", "127.0.0.1:0", "-i", "0"])?;
    let listening = server.wait_for("listening").await?;
    let addr = listening["addr"]
        .as_str()
        .context("the listening event has an address")?
        .to_owned();
    let mut runs = Vec::new();
    for (window, asked) in WINDOWS {
        let run = measure(&addr, window).await?;
        l.say(
            format!(
                "sockit perf {addr} -w {window}: the kernel gave SO_SNDBUF {} / SO_RCVBUF {} \
                 bytes; {:.2} Gbit/s, RTT {}",
                run.sndbuf,
                run.rcvbuf,
                run.bits_per_second / 1e9,
                rtt(run.rtt_us)
            ),
            format!(
                "sockit perf {addr} -w {window}：内核实际给出 SO_SNDBUF {} / SO_RCVBUF {} 字节；\
                 吞吐量 {:.2} Gbit/s，往返时间 {}",
                run.sndbuf,
                run.rcvbuf,
                run.bits_per_second / 1e9,
                rtt(run.rtt_us)
            ),
        );
        l.check(
            run.bits_per_second > 0.0,
            format!("data moved with -w {window}"),
            format!("-w {window} 时有数据传输"),
        );
        runs.push((run, asked));
    }
    let ((small, small_asked), (large, _)) = (&runs[0], &runs[1]);
    l.check(
        small.sndbuf <= 2 * small_asked,
        "the small window was applied (Linux doubles what is asked)",
        "小窗口已生效（Linux 会把请求值加倍）",
    );
    // What the same windows allow across a real path, for comparison.
    let per_20ms = |w: u64| w as f64 * 8.0 / 0.020;
    l.say(
        format!(
            "across a 20 ms path: 8 KiB / 20 ms = {:.1} Mbit/s at most; 4 MiB / 20 ms = {:.2} Gbit/s",
            per_20ms(WINDOWS[0].1) / 1e6,
            per_20ms(WINDOWS[1].1) / 1e9
        ),
        format!(
            "若往返时间是 20 ms：8 KiB / 20 ms 至多 {:.1} Mbit/s；4 MiB / 20 ms 至多 {:.2} Gbit/s",
            per_20ms(WINDOWS[0].1) / 1e6,
            per_20ms(WINDOWS[1].1) / 1e9
        ),
    );
    l.check(
        large.sndbuf > small.sndbuf,
        "the large window gave larger buffers",
        "大窗口得到了更大的缓冲区",
    );
    Ok(())
}

fn rtt(us: Option<u64>) -> String {
    us.map_or_else(|| "?".to_owned(), |us| format!("{us} µs"))
}

/// Runs `perf ADDR -w WINDOW` for half a second and reads its figures.
async fn measure(addr: &str, window: &str) -> anyhow::Result<Run> {
    let client = real::spawn(&["perf", addr, "-t", "0.5", "-i", "0", "-w", window])?;
    let done = client.finish().await?;
    anyhow::ensure!(
        done.status.success(),
        "sockit perf -w {window} failed: {}",
        done.stderr
    );
    let find = |name: &str| -> anyhow::Result<&Value> {
        done.events
            .iter()
            .find(|e| e["event"] == name)
            .with_context(|| format!("sockit perf -w {window} printed no {name}"))
    };
    let start = find("perf_start")?;
    let end = find("perf_end")?;
    Ok(Run {
        sndbuf: start["sndbuf"].as_u64().unwrap_or(0),
        rcvbuf: start["rcvbuf"].as_u64().unwrap_or(0),
        bits_per_second: end["receiver"]["bits_per_second"].as_f64().unwrap_or(0.0),
        rtt_us: end["rtt"]["mean_us"].as_u64(),
    })
}
