//! Large files are sent from a read-only memory map: the hash and the socket read the
//! page cache directly, which saves the copy into a buffer that `read` makes (on
//! loopback, that copy was 40% of the sender's time).
//!
//! A map has one hazard `read` has not: if another process truncates the file while it
//! is sent, touching a page past the new end raises `SIGBUS`, which would kill sockit.
//! So every live map is registered here, and a `SIGBUS` handler replaces the missing
//! pages of a registered map with zeros and marks it `shrank`; the sender then stops
//! that file with an error, as it does when `read` comes up short. A fault anywhere
//! else goes on to the handler that was there before (Rust's stack-overflow report, or
//! the default action).
//!
//! The bytes of a file another process writes meanwhile may change under the slice;
//! that is the same race `read` has, and the receiver verifies the BLAKE3 of what was
//! actually sent, so it cannot take a torn file for a whole one.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

/// Maps registered at once (one per file being sent, so one per receiver with
/// `--keep`). When all are taken, a file is read instead.
const SLOTS: usize = 64;

/// One registered map: its address range and whether a page of it went missing.
struct Slot {
    taken: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
    shrank: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    taken: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    shrank: AtomicBool::new(false),
};
static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];

/// The `SIGBUS` action in place before ours, to pass foreign faults on to.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());
static INSTALL: Once = Once::new();

/// A file's first `len` bytes, mapped read-only.
pub struct Mapped {
    base: *mut libc::c_void,
    len: usize,
    slot: &'static Slot,
}

// The map is read-only and owned by one `Mapped`; the registry is atomics.
unsafe impl Send for Mapped {}

impl Mapped {
    /// Maps `len` bytes of `file`, or `None` when every slot is taken (read the file
    /// instead). `len` must be more than 0.
    pub fn new(file: &File, len: u64) -> io::Result<Option<Mapped>> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("too large to map"))?;
        assert!(len > 0, "an empty file has nothing to map");
        INSTALL.call_once(install_handler);
        let Some(slot) = REGISTRY.iter().find(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }) else {
            return Ok(None);
        };
        // SAFETY: a fresh read-only shared mapping of an open file; the kernel picks the
        // address, so nothing else is overwritten.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            slot.taken.store(false, Ordering::Release);
            return Err(io::Error::last_os_error());
        }
        // SAFETY: advice on the range just mapped; failure only loses read-ahead.
        unsafe { libc::madvise(base, len, libc::MADV_SEQUENTIAL) };
        slot.shrank.store(false, Ordering::Relaxed);
        slot.start.store(base as usize, Ordering::Release);
        slot.end.store(base as usize + len, Ordering::Release);
        Ok(Some(Mapped { base, len, slot }))
    }

    /// The mapped bytes: the file's, or zeros where it was cut short meanwhile.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `base..base + len` stays mapped until drop; see the module comment
        // for pages that go missing or change.
        unsafe { std::slice::from_raw_parts(self.base as *const u8, self.len) }
    }

    /// Unmaps the pages of `range` from this process (they stay in the page cache, and
    /// come back if read again). Without it, every page sent would count in the
    /// sender's RSS until the whole file is done.
    pub fn release(&self, range: Range<usize>) {
        let page = page_size();
        let start = range.start & !(page - 1);
        let end = range.end.min(self.len);
        if start < end {
            // SAFETY: within the map; dropping the pages of a read-only shared map loses
            // nothing, and any later read faults them back in.
            unsafe {
                libc::madvise(
                    self.base.cast::<u8>().add(start).cast(),
                    end - start,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }

    /// A page of the map lay past the file's end when it was read: the file shrank.
    pub fn shrank(&self) -> bool {
        self.slot.shrank.load(Ordering::Acquire)
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        self.slot.end.store(0, Ordering::Release);
        self.slot.start.store(0, Ordering::Release);
        // SAFETY: unmaps exactly what `new` mapped (zero pages put in by the handler
        // included); no slice of it outlives `self`.
        unsafe { libc::munmap(self.base, self.len) };
        self.slot.taken.store(false, Ordering::Release);
    }
}

fn install_handler() {
    // SAFETY: plain sigaction calls; the old action is kept for ever (leaked once).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let previous = Box::into_raw(Box::new(std::mem::zeroed::<libc::sigaction>()));
        if libc::sigaction(libc::SIGBUS, &action, previous) == 0 {
            PREVIOUS.store(previous, Ordering::Release);
        }
    }
}

/// Runs on the thread that touched the missing page. Only async-signal-safe work:
/// atomics, `mmap`, `sigaction`.
extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in &REGISTRY {
        let start = slot.start.load(Ordering::Acquire);
        let end = slot.end.load(Ordering::Acquire);
        if start != 0 && (start..end).contains(&addr) {
            let page = page_size();
            let from = addr & !(page - 1);
            // SAFETY: replaces pages inside this registered map only, with zeros; the
            // faulting read then runs again and succeeds.
            let zeros = unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    end - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros != libc::MAP_FAILED {
                slot.shrank.store(true, Ordering::Release);
                return;
            }
        }
    }
    pass_on(signal, info, context);
}

/// Hands a fault that is not ours to the previous handler, or restores the default
/// action so that the faulting instruction, run again, ends the process as usual.
fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = PREVIOUS.load(Ordering::Acquire);
    // SAFETY: `previous` is null or the action saved at install, never freed.
    unsafe {
        if !previous.is_null() {
            let handler = (*previous).sa_sigaction;
            if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
                if (*previous).sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(handler);
                    f(signal, info, context);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                    f(signal);
                }
                return;
            }
        }
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, ptr::null_mut());
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions and is async-signal-safe.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_cut_short_while_mapped_reads_as_zeros_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let page = page_size();
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 4 * page]).unwrap();
        let map = Mapped::new(&File::open(&path).unwrap(), 4 * page as u64)
            .unwrap()
            .expect("a free slot");
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let page = page_size();
        let data: Vec<u8> = (0..3 * page).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let map = Mapped::new(&File::open(&path).unwrap(), data.len() as u64)
            .unwrap()
            .expect("a free slot");
        assert_eq!(map.bytes(), &data[..]);
        map.release(10..2 * page + 10);
        assert_eq!(map.bytes(), &data[..]);
    }

    #[test]
    fn a_whole_file_maps_to_its_bytes_and_frees_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello, map").unwrap();
        for _ in 0..SLOTS + 1 {
            let map = Mapped::new(&File::open(&path).unwrap(), 10)
                .unwrap()
                .expect("slots come back on drop");
            assert_eq!(map.bytes(), b"hello, map");
            assert!(!map.shrank());
        }
    }
}
