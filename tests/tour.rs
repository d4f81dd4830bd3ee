//! `sockit tour` (each lesson is a test: its checks are the tour's own), `completions`
//! and `man`.

use crate::harness::{run, run_with, sockit};

/// Runs one lesson with `--json` and returns its `lesson` event, after checking that
/// the tour exited 0 and the lesson says it behaved as explained.
fn lesson(topic: &str) -> serde_json::Value {
    let out = run(&["tour", topic, "--lang", "en"], b"");
    let events = out.events_named("lesson");
    assert_eq!(events.len(), 1, "one lesson event: {}", out.stdout_text());
    let ev = events.into_iter().next().unwrap();
    assert_eq!(
        out.code(),
        0,
        "tour {topic} failed: {ev}\nstderr: {}",
        out.stderr
    );
    assert_eq!(ev["topic"], topic);
    assert_eq!(ev["ok"], true, "{ev}");
    assert!(!ev["explanation"].as_str().unwrap().is_empty());
    ev
}

fn steps(ev: &serde_json::Value) -> String {
    ev["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

macro_rules! lesson_test {
    ($name:ident, $topic:literal, [$($key:literal),*]) => {
        #[test]
        fn $name() {
            let ev = lesson($topic);
            let steps = steps(&ev);
            $(assert!(steps.contains($key), "{:?} missing in:\n{steps}", $key);)*
        }
    };
}

lesson_test!(tour_peer_exit, "peer-exit", ["0 bytes (empty"]);
lesson_test!(tour_broken_pipe, "broken-pipe", ["error E"]);
lesson_test!(tour_many_clients, "many-clients", ["client 5"]);
lesson_test!(
    tour_buffers,
    "buffers",
    ["SO_SNDBUF", "would block", "send works again"]
);
lesson_test!(
    issue17_tour_throughput,
    "throughput",
    ["-w 8KiB", "-w 4MiB", "8 KiB / 20 ms"]
);
lesson_test!(
    tour_sticky,
    "sticky",
    [
        "[\"onetwothree\"]",
        "[\"one\", \"two\", \"three\"]",
        "[00 00 00 03]one"
    ]
);
lesson_test!(tour_pacing, "pacing", ["recv #3 -> \"three\""]);
lesson_test!(
    tour_udp_boundaries,
    "udp-boundaries",
    ["recvfrom #3 -> \"three\""]
);
lesson_test!(
    tour_udp_truncation,
    "udp-truncation",
    ["1024 bytes kept of 3000"]
);
lesson_test!(tour_udp_refused, "udp-refused", ["connection refused"]);
lesson_test!(tour_argv, "argv", ["one datagram: \"hello socket world\""]);
lesson_test!(tour_info, "info", ["SO_REUSEADDR", "fd ", "SOCK_DGRAM"]);
lesson_test!(tour_broadcast, "broadcast", ["127.255.255.255", "exit 2"]);
lesson_test!(
    tour_http,
    "http",
    ["request line", "blank line", "name=sockit&course=ok"]
);
lesson_test!(
    tour_homework,
    "homework",
    [
        "BLAKE3",
        "no name, no size",
        "exits 0 with a 102400-byte file"
    ]
);

#[test]
fn tour_runs_every_lesson_for_people_within_30_seconds() {
    let mut cmd = std::process::Command::new(crate::harness::bin());
    cmd.args(["tour", "--lang", "en"]).env("NO_COLOR", "1");
    let started = std::time::Instant::now();
    let out = run_with(cmd, b"");
    let took = started.elapsed();
    let text = out.stdout_text();
    assert_eq!(out.code(), 0, "{text}\n{}", out.stderr);
    assert_eq!(text.matches("✓").count(), 15, "{text}");
    assert!(text.contains("[15/15] homework"), "{text}");
    assert!(took.as_secs() < 30, "the tour took {took:?}");
}

#[test]
fn tour_explains_in_chinese_with_the_notes_terms() {
    let out = run(&["tour", "--lang", "zh"], b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let text = out.stdout_text();
    for term in [
        "粘包",
        "广播",
        "广播风暴",
        "文件描述符",
        "缓冲区",
        "数据报",
        "请求行",
        "空行",
    ] {
        assert!(text.contains(term), "{term} missing");
    }
}

#[test]
fn tour_language_follows_lang() {
    let mut cmd = sockit(&["tour", "sticky"]);
    cmd.env_remove("LC_ALL").env("LANG", "zh_CN.UTF-8");
    let out = run_with(cmd, b"");
    assert!(out.stdout_text().contains("粘包"), "{}", out.stdout_text());
    let mut cmd = sockit(&["tour", "sticky"]);
    cmd.env("LC_ALL", "C").env("LANG", "zh_CN.UTF-8");
    let out = run_with(cmd, b"");
    assert!(!out.stdout_text().contains("粘包"), "LC_ALL wins over LANG");
}

#[test]
fn tour_rejects_an_unknown_topic() {
    let out = run(&["tour", "nosuch"], b"");
    assert_eq!(out.code(), 2);
}

#[test]
fn completions_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run_with(
            {
                let mut c = std::process::Command::new(crate::harness::bin());
                c.args(["completions", shell]);
                c
            },
            b"",
        );
        assert_eq!(out.code(), 0, "{shell}: {}", out.stderr);
        let script = out.stdout_text();
        for sub in ["tcp", "udp", "broadcast", "tour", "send", "recv"] {
            assert!(script.contains(sub), "{shell} script lacks {sub}");
        }
    }
}

#[test]
fn man_is_a_roff_page() {
    let mut c = std::process::Command::new(crate::harness::bin());
    c.arg("man");
    let out = run_with(c, b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let page = out.stdout_text();
    assert!(
        page.starts_with(".ie") || page.contains(".TH sockit"),
        "{page}"
    );
    assert!(
        page.contains(".TH sockit 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains("tour"));
}

#[test]
fn man_dir_writes_a_page_for_every_command_the_main_page_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("share/man/man1");
    let mut c = std::process::Command::new(crate::harness::bin());
    c.arg("man").arg(&dir);
    let out = run_with(c, b"");
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let main = std::fs::read_to_string(dir.join("sockit.1")).unwrap();
    for sub in [
        "tcp",
        "udp",
        "broadcast",
        "http",
        "send",
        "recv",
        "info",
        "tour",
    ] {
        let page = dir.join(format!("sockit-{sub}.1"));
        assert!(page.exists(), "no page for {sub}");
        assert!(
            main.contains(&format!("sockit\\-{sub}")),
            "main page lacks {sub}"
        );
    }
    let serve = std::fs::read_to_string(dir.join("sockit-tcp-serve.1")).unwrap();
    assert!(serve.contains("max\\-frame"), "{serve}");
    assert!(out.stdout_text().contains("sockit-tcp-serve.1"));
}
