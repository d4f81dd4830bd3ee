//! Large files sent by `--plain` come from a read-only memory map: the hash and the
//! socket read the page cache directly, which saves the copy into a buffer that `read`
//! makes (on loopback, that copy was a large part of the sender's time: figures in
//! docs/benchmarks.md, "Transfer"). An encrypted session copies every chunk into its
//! record buffer to seal it anyway, so it reads the file straight into that buffer
//! instead and maps nothing.
//!
//! A map has one hazard `read` has not: if another process truncates the file while it
//! is sent, touching a page past the new end raises `SIGBUS`, which would kill sockit.
//! The binary installs a handler at start (`install_fault_handler`); without it nothing
//! is mapped and every file is read. The handler replaces the missing pages of a live
//! map with zeros and marks it `shrank`; the sender then stops that file with an error,
//! as it does when `read` comes up short. Any other `SIGBUS` goes on to the action that
//! was there before (Rust's stack-overflow report, or the default: the process ends).
//!
//! # Why the handler cannot touch memory that is not a live map
//!
//! - Each thread keeps its own maps in a thread-local registry (`LIVE`), and only that
//!   thread writes it: `Mapped` is neither `Send` nor `Sync`, so a map is made,
//!   registered, read and unmapped on one thread.
//! - A `SIGBUS` raised by a memory access is synchronous: the kernel delivers it to the
//!   thread whose access faulted, with `si_code` `BUS_ADRERR` for a page past the end of
//!   the file. The handler acts only on those, and looks only at the faulting thread's
//!   registry; a `SIGBUS` sent by `kill` (which any thread may receive) is passed on
//!   without a look.
//! - So the handler never runs beside a change of the registry it reads, only *inside*
//!   one, between two instructions of its own thread. The thread registers a map by
//!   writing its end, then its start (a start of 0 is a free slot), and unregisters by
//!   clearing the start before it unmaps; `compiler_fence` keeps those stores in that
//!   order. Every state the handler can see is therefore a free slot or the exact range
//!   of a map that is still mapped, and stays mapped until the handler returns: only
//!   this thread unmaps it, and this thread is in the handler.
//!
//! The registry is atomics rather than `Cell`s so that the handler's reads of it are not
//! data races in Rust's memory model; they are `Relaxed`, as only one thread is
//! involved, with `compiler_fence` as the ordering between a thread and its own
//! handler. `thread_local!` with a `const` initialiser of a type without `Drop` is a
//! plain ELF TLS variable on Linux: no lazy initialisation, no destructor, and in the
//! static TLS block of the executable, so reading it calls nothing.
//!
//! What the handler calls: `sigaction` (to pass a foreign fault on; POSIX lists it as
//! async-signal-safe) and `mmap`, which POSIX does *not* list. It is made through rustix,
//! whose Linux backend issues the system call itself (no libc wrapper, no lock, no
//! allocation, no `errno`); the kernel services a system call from a signal handler like
//! any other, and `MAP_FIXED` over a range of our own map replaces exactly those pages,
//! atomically, in one call. The page size is read once at install, not in the handler.
//!
//! The bytes of a file another process writes meanwhile may change under the slice:
//! that is why `Mapped::new` is `unsafe`. Its one user hashes each byte once and writes
//! it once, so a change is the same race `read` has, and the receiver verifies the
//! BLAKE3 of what was actually sent: it cannot take a torn file for a whole one.

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

use rustix::mm::{Advice, MapFlags, ProtFlags};

/// Maps one thread holds at once (a session thread sends one file at a time, so it
/// holds one). When all are taken, a file is read instead.
const PER_THREAD: usize = 4;

/// One registered map: its address range (`start` 0 when free) and whether a page of
/// it went missing.
struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    shrank: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    shrank: AtomicBool::new(false),
};

thread_local! {
    /// This thread's live maps; written by this thread, read by its `SIGBUS` handler.
    static LIVE: [Slot; PER_THREAD] = const { [FREE; PER_THREAD] };
}

/// Set once the handler is in place; until then nothing is mapped.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The `SIGBUS` action in place before ours, to pass foreign faults on to.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());
/// The page size, read at install so that the handler need not ask.
static PAGE: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// Installs the `SIGBUS` handler that lets files be sent from a memory map. Call it
/// once at the start of `main`, before any thread is spawned (so that no fault can
/// meet a half-installed handler, and no other code is changing `SIGBUS` meanwhile).
/// Without it, or if it fails, files are read instead of mapped: slower, as safe.
pub fn install_fault_handler() -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| result = install());
    result
}

fn install() -> io::Result<()> {
    // SAFETY: sysconf has no preconditions (called here, never in the handler).
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = usize::try_from(page).map_err(|_| io::Error::last_os_error())?;
    PAGE.store(page, Ordering::Relaxed);
    // SAFETY: sigaction on zeroed structs we own; the previous action is read before
    // ours goes in (so a fault never finds PREVIOUS unset) and kept for ever (leaked
    // once).
    unsafe {
        let previous = Box::into_raw(Box::new(std::mem::zeroed::<libc::sigaction>()));
        if libc::sigaction(libc::SIGBUS, ptr::null(), previous) != 0 {
            return Err(io::Error::last_os_error());
        }
        PREVIOUS.store(previous, Ordering::Release);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    INSTALLED.store(true, Ordering::Release);
    Ok(())
}

/// A file's first `len` bytes, mapped read-only, on the thread that mapped them.
pub struct Mapped {
    /// Also what makes `Mapped` neither `Send` nor `Sync`: its registration lives in
    /// this thread's `LIVE`, and its faults are caught on this thread only.
    base: *mut c_void,
    len: usize,
    slot: usize,
}

impl Mapped {
    /// Maps `len` bytes of `file`, or `None` when the fault handler is not installed
    /// or this thread holds `PER_THREAD` maps already (read the file instead). `len`
    /// must be more than 0.
    ///
    /// # Safety
    ///
    /// `bytes()` hands out a `&[u8]` that another process can change while it is
    /// borrowed, by writing the file (and that reads as zeros past a cut, see
    /// `shrank`). The caller must either know that nothing writes or truncates the file
    /// while the map lives, or use the bytes only in ways where a change is harmless:
    /// hand each byte once to something that copies it out (a hash, a socket), never
    /// read it twice expecting the same value, never let it decide a length, an index
    /// or anything the program's memory safety rests on.
    ///
    /// The slice should not be read on another thread either: a fault there is not
    /// this map's, and ends the process as an unhandled `SIGBUS`.
    pub unsafe fn new(file: &File, len: u64) -> io::Result<Option<Mapped>> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("too large to map"))?;
        assert!(len > 0, "an empty file has nothing to map");
        if !INSTALLED.load(Ordering::Acquire) {
            return Ok(None);
        }
        let Some(slot) = LIVE.with(|live| {
            live.iter()
                .position(|s| s.start.load(Ordering::Relaxed) == 0)
        }) else {
            return Ok(None);
        };
        // SAFETY: a fresh read-only shared mapping of an open file; the kernel picks the
        // address, so nothing else is overwritten.
        let base = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                0,
            )
        }?;
        // SAFETY: advice on the range just mapped; failure only loses read-ahead.
        let _ = unsafe { rustix::mm::madvise(base, len, Advice::Sequential) };
        LIVE.with(|live| {
            let s = &live[slot];
            s.shrank.store(false, Ordering::Relaxed);
            s.end.store(base as usize + len, Ordering::Relaxed);
            // The handler takes a non-zero start as a whole entry: the end goes first.
            compiler_fence(Ordering::Release);
            s.start.store(base as usize, Ordering::Relaxed);
        });
        Ok(Some(Mapped { base, len, slot }))
    }

    /// The mapped bytes: the file's, or zeros where it was cut short meanwhile.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `base..base + len` stays mapped until drop; the caller of `new` took
        // on what another process may do to the bytes meanwhile.
        unsafe { std::slice::from_raw_parts(self.base as *const u8, self.len) }
    }

    /// Unmaps the pages of `range` from this process (they stay in the page cache, and
    /// come back if read again). Without it, every page sent would count in the
    /// sender's RSS until the whole file is done.
    pub fn release(&self, range: Range<usize>) {
        let page = PAGE.load(Ordering::Relaxed);
        let start = range.start & !(page - 1);
        let end = range.end.min(self.len);
        if start < end {
            // SAFETY: within the map; dropping the pages of a read-only shared map loses
            // nothing, and any later read faults them back in.
            let _ = unsafe {
                rustix::mm::madvise(
                    self.base.cast::<u8>().add(start).cast(),
                    end - start,
                    Advice::LinuxDontNeed,
                )
            };
        }
    }

    /// A page of the map lay past the file's end when it was read: the file shrank.
    pub fn shrank(&self) -> bool {
        LIVE.with(|live| live[self.slot].shrank.load(Ordering::Relaxed))
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        LIVE.with(|live| live[self.slot].start.store(0, Ordering::Relaxed));
        // Unregistered before unmapped: the handler never sees a range that is gone.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: unmaps exactly what `new` mapped (zero pages put in by the handler
        // included); no slice of it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

/// Runs on the thread that touched the missing page (see the module comment).
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code == libc::BUS_ADRERR && zero_fill(addr) {
        return;
    }
    // SAFETY: errno is this thread's; kept so the interrupted code sees its own.
    let errno = unsafe { *libc::__errno_location() };
    pass_on(signal, info, context);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Puts zeros in place of this thread's map at `addr`, from its page to the map's end,
/// and marks that map `shrank`; false when `addr` is in none of this thread's maps.
fn zero_fill(addr: usize) -> bool {
    LIVE.with(|live| {
        for slot in live {
            let start = slot.start.load(Ordering::Relaxed);
            compiler_fence(Ordering::Acquire);
            let end = slot.end.load(Ordering::Relaxed);
            if start == 0 || !(start..end).contains(&addr) {
                continue;
            }
            let from = addr & !(PAGE.load(Ordering::Relaxed) - 1);
            // SAFETY: replaces pages inside this thread's live map only, with zeros; the
            // faulting read then runs again and succeeds.
            let zeros = unsafe {
                rustix::mm::mmap_anonymous(
                    from as *mut c_void,
                    end - from,
                    ProtFlags::READ,
                    MapFlags::PRIVATE | MapFlags::FIXED,
                )
            };
            if zeros.is_ok() {
                slot.shrank.store(true, Ordering::Relaxed);
                return true;
            }
        }
        false
    })
}

/// Hands a fault that is not ours to the previous handler, or restores the default
/// action so that the faulting instruction, run again, ends the process as usual.
fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let previous = PREVIOUS.load(Ordering::Acquire);
    // SAFETY: `previous` is null or the action saved at install, never freed.
    unsafe {
        if !previous.is_null() {
            let handler = (*previous).sa_sigaction;
            if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
                if (*previous).sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
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

#[cfg(test)]
#[path = "mapped_tests.rs"]
mod tests;
