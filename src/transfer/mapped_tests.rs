//! The unit tests of `mapped.rs`.

use super::*;
use std::io::Write;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Two threads meet here each round. Unlike `Barrier`, a thread whose partner
/// failed (and so never comes) fails too, after a while, instead of waiting for ever.
#[derive(Default)]
struct Rendezvous {
    /// Rounds completed, and threads arrived in this one.
    state: Mutex<(u64, usize)>,
    all_here: Condvar,
}

impl Rendezvous {
    fn wait(&self) {
        let mut state = self.state.lock().expect("the other thread failed");
        let round = state.0;
        state.1 += 1;
        if state.1 == 2 {
            *state = (round + 1, 0);
            self.all_here.notify_all();
            return;
        }
        let (_state, waited) = self
            .all_here
            .wait_timeout_while(state, Duration::from_secs(10), |s| s.0 == round)
            .expect("the other thread failed");
        assert!(!waited.timed_out(), "the other thread stopped");
    }
}

fn page() -> usize {
    install_fault_handler().expect("the handler installs");
    PAGE.load(Ordering::Relaxed)
}

/// Maps the whole of `path` (the tests own their files: nothing else writes them).
fn map(path: &std::path::Path, len: usize) -> Mapped {
    // SAFETY: only the test changes the file, and reads the bytes after it did.
    unsafe { Mapped::new(&File::open(path).unwrap(), len as u64) }
        .unwrap()
        .expect("a free slot")
}

#[test]
fn a_file_cut_short_while_mapped_reads_as_zeros_and_says_so() {
    let page = page();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut f = File::create(&path).unwrap();
    f.write_all(&vec![7u8; 4 * page]).unwrap();
    let map = map(&path, 4 * page);
    assert_eq!(map.bytes()[0], 7);
    assert!(!map.shrank());

    f.set_len(page as u64).unwrap();
    // Without the handler, this read of pages past the new end kills the test.
    let sum: u64 = map.bytes().iter().map(|&b| u64::from(b)).sum();
    assert_eq!(
        sum,
        7 * page as u64,
        "the first page is the file's, the rest zeros"
    );
    assert!(map.shrank());
}

#[test]
fn released_pages_read_back_the_same() {
    let page = page();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let data: Vec<u8> = (0..3 * page).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let map = map(&path, data.len());
    assert_eq!(map.bytes(), &data[..]);
    map.release(10..2 * page + 10);
    assert_eq!(map.bytes(), &data[..]);
}

#[test]
fn a_whole_file_maps_to_its_bytes_and_frees_its_slot() {
    page();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"hello, map").unwrap();
    for _ in 0..PER_THREAD + 1 {
        let map = map(&path, 10);
        assert_eq!(map.bytes(), b"hello, map");
        assert!(!map.shrank());
    }
}

#[test]
fn a_thread_holds_at_most_its_share_of_maps_and_then_reads() {
    page();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, b"x").unwrap();
    let held: Vec<Mapped> = (0..PER_THREAD).map(|_| map(&path, 1)).collect();
    // SAFETY: as in `map`.
    let more = unsafe { Mapped::new(&File::open(&path).unwrap(), 1) }.unwrap();
    assert!(more.is_none(), "a fifth map on one thread");
    // Another thread has slots of its own.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(map(&path, 1).bytes(), b"x"));
    });
    drop(held);
}

/// Two threads map, cut their file under the map and touch a page past the cut,
/// and unmap, over and over and at the same moments, each beside a map of its own
/// that is never cut: every fault must land on the map that took it, as zeros past
/// the cut only, and leave the other maps (the thread's own and the other
/// thread's) and the memory around them as they were.
#[test]
fn two_threads_faulting_and_unmapping_at_once_each_get_only_their_own_fault() {
    const ROUNDS: usize = 200;
    let page = page();
    let dir = tempfile::tempdir().unwrap();
    let meet = Rendezvous::default();
    std::thread::scope(|s| {
        for t in 0..2u8 {
            let (dir, meet) = (dir.path(), &meet);
            s.spawn(move || {
                let fill = 10 + t;
                let kept = dir.join(format!("kept{t}"));
                std::fs::write(&kept, vec![fill; 2 * page]).unwrap();
                let bystander = map(&kept, 2 * page);
                let canary = vec![fill; 4 * page];
                let cut = dir.join(format!("cut{t}"));
                for round in 0..ROUNDS {
                    let mut f = File::create(&cut).unwrap();
                    f.write_all(&vec![fill; 4 * page]).unwrap();
                    let m = map(&cut, 4 * page);
                    assert!(!m.shrank());
                    meet.wait();
                    // One thread faults while the other unmaps and maps again, and
                    // the other way round in the next round.
                    if round % 2 == usize::from(t) {
                        f.set_len(page as u64).unwrap();
                        assert_eq!(m.bytes()[2 * page], 0, "a page past the cut");
                        assert!(m.shrank(), "the fault is reported on its map");
                        assert!(m.bytes()[..page].iter().all(|&b| b == fill));
                        assert!(m.bytes()[page..].iter().all(|&b| b == 0));
                    } else {
                        drop(m);
                        let again = map(&cut, 4 * page);
                        assert!(again.bytes().iter().all(|&b| b == fill));
                        assert!(!again.shrank(), "another thread's fault marked it");
                    }
                    assert!(!bystander.shrank(), "a fault marked the map beside it");
                    assert!(bystander.bytes().iter().all(|&b| b == fill));
                    assert!(canary.iter().all(|&b| b == fill));
                }
            });
        }
    });
}

/// Library code whose binary did not install the handler (tests, fuzz targets)
/// must read, not map: run in a process of its own, where nothing installed it.
#[test]
fn nothing_is_mapped_until_the_handler_is_installed() {
    if std::env::var_os("SOCKIT_MAPPED_CHILD").is_some() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        // SAFETY: as in `map`.
        let m = unsafe { Mapped::new(&File::open(&path).unwrap(), 1) }.unwrap();
        assert!(m.is_none(), "mapped with no SIGBUS handler installed");
        install_fault_handler().unwrap();
        // SAFETY: as in `map`.
        let m = unsafe { Mapped::new(&File::open(&path).unwrap(), 1) }.unwrap();
        assert!(m.is_some(), "not mapped once the handler is installed");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "--test-threads=1"])
        .arg("transfer::mapped::tests::nothing_is_mapped_until_the_handler_is_installed")
        .env("SOCKIT_MAPPED_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
