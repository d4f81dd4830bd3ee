//! The receiver's disk work on a thread of its own: creating, filling, and (once the
//! session thread has verified a file) naming each partial file, while the session thread
//! goes on reading, decrypting and hashing the stream. Work is handed over in batches,
//! so 10,000 small files cost a few dozen hand-overs rather than 30,000.

use std::ffi::OsString;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::files::{self, Existing, Folder, Part};
use super::progress::Progress;
use super::TransferError;
use crate::output::Event;

/// A batch is handed over once it holds this much file data…
const BATCH_BYTES: usize = 256 << 10;
/// …or this many operations…
const BATCH_OPS: usize = 512;
/// …or is this old when the next operation arrives (a slow sender still sees progress).
const BATCH_AGE: Duration = Duration::from_millis(10);
/// Batches waiting for the disk thread. With `BATCH_BYTES` plus at most one 1 MiB
/// chunk each, this bounds the memory queued for the disk to about 6 MiB.
const QUEUE: usize = 4;
/// Files this large are written by the session thread itself, once the disk thread
/// has caught up: handing 1 MiB chunks to another core costs a copy and cold caches,
/// and a large file has no per-file system calls worth overlapping.
pub const INLINE_FROM: u64 = 1 << 20;

/// One file to start writing.
pub struct Open {
    /// The manifest path, shown in the `file` event of a `--stdout` transfer.
    pub path: String,
    /// Where the file goes (its partial file is beside it); `None` for stdout.
    pub dest: Option<PathBuf>,
    /// Bytes already in the partial file (a resumed file), or 0.
    pub offset: u64,
    /// No partial file was there at the plan, so one may be created with its final mode.
    pub fresh: bool,
    pub mode: u32,
    pub mtime: Option<std::time::SystemTime>,
}

enum Op {
    Open(Open),
    Data(Range<usize>),
    /// The file just written arrived whole and its BLAKE3 matched.
    Commit {
        blake3: String,
    },
    /// Answer once every operation before this one is done.
    Sync(SyncSender<()>),
    /// A file that is already here and identical.
    Skip {
        path: String,
        size: u64,
        blake3: String,
    },
}

struct Batch {
    ops: Vec<Op>,
    data: Vec<u8>,
}

impl Batch {
    /// Sized for a full batch at once: growing it by doubling costs page faults and
    /// copies on every batch until the recycled ones come back.
    fn new() -> Batch {
        Batch {
            ops: Vec::with_capacity(BATCH_OPS),
            data: Vec::with_capacity(BATCH_BYTES + (64 << 10)),
        }
    }
}

/// The session thread's handle on the disk thread.
pub struct Writer {
    tx: Option<SyncSender<Batch>>,
    /// Emptied batches coming back, so their buffers are reused rather than reallocated.
    spare: Receiver<Batch>,
    batch: Batch,
    since: Instant,
    /// The disk state, used by the disk thread for batches and directly by the session
    /// thread for a large file (`inline`), never both at once.
    disk: Arc<Mutex<Disk>>,
    inline: bool,
    thread: Option<JoinHandle<Result<(), TransferError>>>,
}

impl Writer {
    /// Starts the disk thread; it reports to `progress` and names files by `policy`.
    pub fn start(progress: Progress, root: PathBuf, policy: Existing) -> Writer {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (back, spare) = mpsc::sync_channel(QUEUE + 1);
        let disk = Arc::new(Mutex::new(Disk {
            progress: Some(progress),
            root,
            policy,
            folder: None,
            file: None,
        }));
        let shared = disk.clone();
        let thread = std::thread::Builder::new()
            .name("sockit-disk".into())
            .spawn(move || run(&shared, rx, back))
            .expect("spawning the disk thread");
        Writer {
            tx: Some(tx),
            spare,
            batch: Batch::new(),
            since: Instant::now(),
            disk,
            inline: false,
            thread: Some(thread),
        }
    }

    /// Starts a file; one of `INLINE_FROM` bytes or more (or of unknown size) is written
    /// on this thread once everything before it is on disk.
    pub fn open(&mut self, open: Open, size: Option<u64>) -> Result<(), TransferError> {
        if size.is_none_or(|s| s >= INLINE_FROM) {
            self.sync()?;
            self.inline = true;
            return lock(&self.disk).apply(Op::Open(open), &[]);
        }
        self.push(Op::Open(open))
    }

    pub fn data(&mut self, data: &[u8]) -> Result<(), TransferError> {
        if self.inline {
            return lock(&self.disk).apply(Op::Data(0..data.len()), data);
        }
        let start = self.batch.data.len();
        self.batch.data.extend_from_slice(data);
        self.push(Op::Data(start..start + data.len()))
    }

    pub fn commit(&mut self, blake3: String) -> Result<(), TransferError> {
        if std::mem::take(&mut self.inline) {
            return lock(&self.disk).apply(Op::Commit { blake3 }, &[]);
        }
        self.push(Op::Commit { blake3 })
    }

    /// Waits until the disk thread has done everything queued so far.
    fn sync(&mut self) -> Result<(), TransferError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.batch.ops.push(Op::Sync(ack));
        self.flush()?;
        if done.recv().is_err() {
            self.tx = None;
            return Err(self.join().err().unwrap_or_else(stopped));
        }
        Ok(())
    }

    pub fn skip(&mut self, path: String, size: u64, blake3: String) -> Result<(), TransferError> {
        self.push(Op::Skip { path, size, blake3 })
    }

    /// Waits for every file to be written and named; returns the progress totals.
    pub fn finish(mut self) -> Result<Progress, TransferError> {
        self.flush()?;
        self.tx = None;
        self.join()?;
        Ok(lock(&self.disk).progress.take().expect("taken once"))
    }

    fn push(&mut self, op: Op) -> Result<(), TransferError> {
        if self.batch.ops.is_empty() {
            self.since = Instant::now();
        }
        self.batch.ops.push(op);
        if self.batch.data.len() >= BATCH_BYTES
            || self.batch.ops.len() >= BATCH_OPS
            || self.since.elapsed() >= BATCH_AGE
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransferError> {
        if self.batch.ops.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        let batch = std::mem::replace(&mut self.batch, next);
        let tx = self.tx.as_ref().expect("flushed before finish");
        if tx.send(batch).is_err() {
            // The disk thread stopped on an error: that error is the one to report.
            self.tx = None;
            return Err(self.join().err().unwrap_or_else(stopped));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<(), TransferError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(TransferError::Verify("the disk thread failed".into())),
        }
    }
}

impl Drop for Writer {
    /// On an error in the session, what arrived is still written (a partial file to resume
    /// from) and every file handle is closed before the error is reported. A file
    /// without its commit is never named.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.flush();
            self.tx = None;
            let _ = self.join();
        }
    }
}

/// The file being written.
struct Current {
    open: Open,
    part: Option<(Part, OsString)>,
    written: u64,
}

fn stopped() -> TransferError {
    TransferError::Verify("the disk thread stopped early".into())
}

fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    disk.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The disk thread: applies each batch, and hands its buffers back for reuse.
fn run(
    disk: &Mutex<Disk>,
    rx: Receiver<Batch>,
    back: SyncSender<Batch>,
) -> Result<(), TransferError> {
    for mut batch in rx {
        let mut d = lock(disk);
        for op in batch.ops.drain(..) {
            d.apply(op, &batch.data)?;
        }
        drop(d);
        batch.data.clear();
        if let Err(TrySendError::Disconnected(_)) = back.try_send(batch) {
            break;
        }
    }
    Ok(())
}

/// The disk state: the open file, the folder it is in, and the progress report.
struct Disk {
    /// Taken by `Writer::finish`.
    progress: Option<Progress>,
    root: PathBuf,
    policy: Existing,
    folder: Option<Folder>,
    file: Option<Current>,
}

impl Disk {
    fn apply(&mut self, op: Op, data: &[u8]) -> Result<(), TransferError> {
        match op {
            Op::Open(open) => {
                let part = match &open.dest {
                    Some(dest) => Some(self.open_part(dest, &open)?),
                    None => None,
                };
                self.progress().start_file(&open.path);
                self.progress().add_existing(open.offset);
                self.file = Some(Current {
                    written: open.offset,
                    open,
                    part,
                });
            }
            Op::Data(range) => {
                let bytes = &data[range];
                let file = self.file.as_mut().expect("data follows an open");
                match &mut file.part {
                    Some((part, name)) => part.file().write_all(bytes).map_err(|io| {
                        let folder = self.folder.as_ref().map_or(Path::new(""), Folder::path);
                        TransferError::Disk {
                            what: format!("writing {}", folder.join(name).display()),
                            io,
                        }
                    })?,
                    None => io::stdout().lock().write_all(bytes).map_err(stdout)?,
                }
                file.written += bytes.len() as u64;
                self.progress().add(bytes.len() as u64);
            }
            Op::Commit { blake3 } => {
                let file = self.file.take().expect("commit follows an open");
                let shown = match (file.part, &file.open.dest) {
                    (Some((part, part_name)), Some(dest)) => {
                        let folder = self.folder.as_ref().expect("opened with the part");
                        let name = dest.file_name().expect("a file name");
                        let o = &file.open;
                        let done =
                            folder.finish(part, &part_name, name, o.mode, o.mtime, self.policy)?;
                        done.strip_prefix(&self.root)
                            .unwrap_or(&done)
                            .to_string_lossy()
                            .into_owned()
                    }
                    _ => {
                        io::stdout().lock().flush().map_err(stdout)?;
                        file.open.path.clone()
                    }
                };
                self.progress().file(Event::File {
                    path: shown,
                    bytes: file.written,
                    blake3,
                    resumed: file.open.offset,
                    unchanged: false,
                    sha256: None,
                });
            }
            Op::Sync(ack) => {
                let _ = ack.send(());
            }
            Op::Skip { path, size, blake3 } => {
                self.progress().add_existing(size);
                self.progress().file(Event::File {
                    path,
                    bytes: size,
                    blake3,
                    resumed: 0,
                    unchanged: true,
                    sha256: None,
                });
            }
        }
        Ok(())
    }

    fn progress(&mut self) -> &mut Progress {
        self.progress.as_mut().expect("until finish")
    }

    /// Opens `dest`'s partial file in its folder, opening the folder when it changes.
    fn open_part(&mut self, dest: &Path, open: &Open) -> Result<(Part, OsString), TransferError> {
        let dir = dest.parent().expect("under the output folder");
        if self.folder.as_ref().is_none_or(|f| f.path() != dir) {
            self.folder = Some(Folder::open(dir)?);
        }
        let folder = self.folder.as_ref().expect("just opened");
        let name = files::part_path(dest)
            .file_name()
            .expect("a file name")
            .to_owned();
        let part = folder.open_part(&name, open.offset, open.mode, open.fresh)?;
        Ok((part, name))
    }
}

fn stdout(io: io::Error) -> TransferError {
    TransferError::Disk {
        what: "writing to stdout".into(),
        io,
    }
}
