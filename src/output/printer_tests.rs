//! The unit tests of the printer: order, the byte budget, rendering, a closed stdout.

use std::io::Write;
use std::net::SocketAddr;

use super::*;

/// Runs a writer over `rx` into `out` with `queue`'s accounting.
fn write_all_of(rx: Receiver<Queued>, out: impl Write, json: bool, queue: &Queue) -> bool {
    let gone = AtomicBool::new(false);
    let closed = CancellationToken::new();
    let writer = Writer {
        style: Style {
            json,
            colour: false,
        },
        gone: &gone,
        closed: &closed,
        queue,
    };
    writer.run(rx, out);
    closed.is_cancelled() && gone.load(Ordering::Relaxed)
}

fn queued(item: Item) -> Queued {
    Queued {
        item,
        room: 0,
        overdraft: 0,
        stream: None,
    }
}

#[test]
fn printer_writes_every_line_in_order() {
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        write_all_of(rx, &mut buf, false, &Queue::new());
        buf
    });
    for i in 0..100 {
        tx.send(queued(Item::Raw(i.to_string()))).unwrap();
    }
    drop(tx);
    let out = String::from_utf8(writer.join().unwrap()).unwrap();
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

/// A `Printer` and the writer's receiving end, with no thread: the test writes.
fn printer_without_writer() -> (Printer, Receiver<Queued>) {
    let (tx, rx) = mpsc::channel();
    let printer = Printer {
        tx,
        json: true,
        live: false,
        colour: false,
        gone: Arc::new(AtomicBool::new(false)),
        queue: Arc::new(Queue::new()),
        closed: CancellationToken::new(),
    };
    (printer, rx)
}

#[test]
fn what_does_not_fit_the_budget_is_dropped_counted_and_reported_once_written() {
    let (printer, rx) = printer_without_writer();
    let peer = "127.0.0.1:5000".parse().unwrap();
    let datagram = Event::datagram(peer, &[b'x'; 60_000], 60_000);
    let fits = OUTPUT_BUDGET / cost(&datagram);
    let queued = (0..fits + 10).filter(|_| printer.offer(&datagram)).count();
    assert_eq!(queued, fits);
    // Lifecycle events still get through, from the overdraft.
    printer.emit(&Event::warning("still here"));
    let queue = printer.queue.clone();
    drop(printer);
    let mut out = Vec::new();
    assert!(!write_all_of(rx, &mut out, true, &queue));
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), fits + 2);
    assert_eq!(lines[fits]["event"], "warning");
    assert_eq!(lines[fits + 1]["event"], "dropped");
    assert_eq!(lines[fits + 1]["events"], 10);
    assert_eq!(lines[fits + 1]["bytes"], 600_000);
    // Everything written gave its room back.
    assert_eq!(queue.room.available_permits(), OUTPUT_BUDGET);
    assert_eq!(queue.overdraft.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_stream_waits_for_room_but_one_with_nothing_queued_gets_through() {
    let (printer, rx) = printer_without_writer();
    let peer = "127.0.0.1:5000".parse().unwrap();
    let big = Event::message(peer, bytes::Bytes::from(vec![b'z'; 1 << 20]));
    let (flooder, other) = (Stream::default(), Stream::default());
    // The flooder fills the budget, then has to wait.
    for _ in 0..OUTPUT_BUDGET / cost(&big) {
        printer.emit_paced(&flooder, &big).await;
    }
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        printer.emit_paced(&flooder, &big),
    );
    assert!(waiting.await.is_err(), "the flooder must wait for room");
    // Another stream with nothing queued is not held behind it.
    let small = Event::message(peer, bytes::Bytes::from_static(b"hello"));
    tokio::time::timeout(
        std::time::Duration::from_millis(50),
        printer.emit_paced(&other, &small),
    )
    .await
    .expect("a quiet stream's event is queued at once");
    // Once the writer catches up, the flooder goes on.
    let queue = printer.queue.clone();
    let writer = std::thread::spawn(move || write_all_of(rx, io::sink(), true, &queue));
    printer.emit_paced(&flooder, &big).await;
    drop(printer);
    writer.join().unwrap();
    assert_eq!(flooder.0.load(Ordering::Relaxed), 0);
}

#[test]
fn events_render_on_the_writer_as_lines_or_ndjson() {
    let peer = "127.0.0.1:5000".parse().unwrap();
    let message = Event::message(peer, bytes::Bytes::from_static(b"hi\n"));
    let sent = Event::Sent { to: peer, bytes: 1 };
    let render = |json, colour| {
        let mut buf = Vec::new();
        let style = Style { json, colour };
        style
            .write(&mut buf, &Item::Event(message.clone()))
            .unwrap();
        style
            .write(&mut buf, &Item::Events(vec![sent.clone(), sent.clone()]))
            .unwrap();
        String::from_utf8(buf).unwrap()
    };
    let plain = render(false, false);
    assert_eq!(
        plain.lines().collect::<Vec<_>>(),
        [
            "[127.0.0.1:5000] 3 bytes: hi\\n",
            "sent 1 byte to 127.0.0.1:5000",
            "sent 1 byte to 127.0.0.1:5000"
        ]
    );
    // A message keeps the terminal's colour; a `sent` line is dimmed, then reset.
    let coloured = render(false, true);
    let second = coloured.lines().nth(1).unwrap();
    assert!(second.starts_with("\x1b[2msent 1 byte") && second.ends_with("\x1b[0m"));
    let json = render(true, false);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["event"], "message");
    assert_eq!(lines[0]["text"], "hi\n");
    assert_eq!(lines[2]["event"], "sent");
}

#[test]
fn the_fast_path_writes_what_the_generic_one_does() {
    let peers = [
        "127.0.0.1:5000",
        "10.20.30.40:1",
        "[::1]:8080",
        "[fe80::1%2]:9",
    ];
    let long = vec![b'x'; 1000];
    let long_text = "粘包".repeat(200);
    let payloads: [&[u8]; 9] = [
        b"",
        b"a",
        b"hello world",
        b"tab\tnew\nline \\ \"quoted\" \x1b[31m",
        "非 ASCII ✓".as_bytes(),
        b"\xff\xfe not utf-8",
        &[0u8; 64],
        &long,
        long_text.as_bytes(),
    ];
    for peer in peers {
        let peer: SocketAddr = peer.parse().unwrap();
        for payload in payloads {
            let bytes = bytes::Bytes::copy_from_slice(payload);
            for event in [
                Event::message(peer, bytes.clone()),
                Event::reply(peer, bytes.clone()),
                Event::message(peer, bytes.clone()).on_wire(bytes.len() + 4),
                Event::reply(peer, bytes).on_wire(payload.len() + 1),
            ] {
                for json in [false, true] {
                    let style = Style {
                        json,
                        colour: false,
                    };
                    let (mut fast, mut generic) = (Vec::new(), Vec::new());
                    style.write_event(&mut fast, &event).unwrap();
                    style.write_generic(&mut generic, &event).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&fast),
                        String::from_utf8_lossy(&generic)
                    );
                }
            }
        }
    }
}

#[test]
fn a_closed_stdout_cancels_quietly() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let (tx, rx) = mpsc::channel();
    tx.send(queued(Item::Raw("x".into()))).unwrap();
    drop(tx);
    assert!(write_all_of(rx, Closed, true, &Queue::new()));
}

#[test]
fn a_status_line_is_erased_before_the_next_line_and_at_the_end() {
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        write_all_of(rx, &mut buf, false, &Queue::new());
        buf
    });
    tx.send(queued(Item::Status("3.0 s".into()))).unwrap();
    tx.send(queued(Item::Status("3.2 s".into()))).unwrap();
    tx.send(queued(Item::Raw("row".into()))).unwrap();
    tx.send(queued(Item::Status("4.0 s".into()))).unwrap();
    drop(tx);
    let out = String::from_utf8(writer.join().unwrap()).unwrap();
    assert_eq!(
        out,
        "\r\x1b[2K3.0 s\r\x1b[2K3.2 s\r\x1b[2Krow\n\r\x1b[2K4.0 s\r\x1b[2K"
    );
}
