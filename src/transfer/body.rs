//! One file's body on the sender's side: opened relative to its folder, sent from a
//! memory map or by `read`, and refused when the file changes while it is sent.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

use super::manifest::{Entry, Source};
use super::mapped::Mapped;
use super::progress::Progress;
use super::wire::{Conn, WireError, CHUNK};
use super::TransferError;

/// Files this large are sent from a memory map (`mapped`) in a plain session; smaller
/// ones are read, which costs less than setting up and tearing down a map.
const MAP_FROM: u64 = 1 << 20;

/// Where a file's bytes come from.
pub(super) enum Input {
    File(File),
    Stdin,
}

/// Opens a file to send from `offset`. Files are opened relative to their folder, kept
/// open from the previous file (`folder`): the kernel walks a folder's path once, not
/// for each of its 10,000 small files.
pub(super) fn open_at(
    folder: &mut Option<(PathBuf, OwnedFd)>,
    source: &Source,
    offset: u64,
) -> Result<Input, TransferError> {
    match source {
        Source::Path(path) => {
            let fail = |e: io::Error| disk(&path.display().to_string(), e);
            let mut f = match (path.parent(), path.file_name()) {
                (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => {
                    if folder.as_ref().is_none_or(|(p, _)| p != dir) {
                        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                        let fd = rustix::fs::open(dir, flags, Mode::empty())
                            .map_err(|e| fail(e.into()))?;
                        *folder = Some((dir.to_owned(), fd));
                    }
                    let (_, fd) = folder.as_ref().expect("just opened");
                    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
                    File::from(
                        rustix::fs::openat(fd, name, flags, Mode::empty())
                            .map_err(|e| fail(e.into()))?,
                    )
                }
                _ => File::open(path).map_err(fail)?,
            };
            if offset > 0 {
                f.seek(SeekFrom::Start(offset)).map_err(fail)?;
            }
            Ok(Input::File(f))
        }
        Source::Stdin => Ok(Input::Stdin),
        Source::None => Err(TransferError::Verify("no source for a file entry".into())),
    }
}

/// Sends one file's body from `from` on: a large file of a plain session from a map,
/// anything else (or a large file that cannot be mapped) by `read`; returns where the
/// body ended. A sealed session reads even large files: sealing copies each chunk into
/// the record buffer anyway, and `read` straight into it is that one copy.
pub(super) fn send_body<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    input: Input,
    from: u64,
    entry: &Entry,
    hasher: &mut blake3::Hasher,
    progress: &mut Progress,
) -> Result<u64, TransferError> {
    let file = match input {
        Input::File(file) => file,
        Input::Stdin => return send_read(conn, io::stdin(), 0, entry, hasher, progress),
    };
    if let Some(size) = entry
        .size
        .filter(|&size| size >= MAP_FROM && !conn.sealed())
    {
        // SAFETY: `send_mapped` hashes each byte once and writes it once, on this
        // thread, and decides nothing on them: a write by another process meanwhile is
        // sent as found (the receiver's BLAKE3 of what it got then fails), a cut reads
        // as zeros and is caught by `shrank`, `EFAULT` or the size check.
        if let Ok(Some(map)) = unsafe { Mapped::new(&file, size) } {
            return send_mapped(conn, &map, &file, from, entry, hasher, progress);
        }
    }
    send_read(conn, file, from, entry, hasher, progress)
}

/// Sends a body from `from` on by reading it into the frame (small files, stdin, and
/// any file when no map is free); returns where the body ended.
fn send_read<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    mut input: impl Read,
    from: u64,
    entry: &Entry,
    hasher: &mut blake3::Hasher,
    progress: &mut Progress,
) -> Result<u64, TransferError> {
    let mut sent = from;
    loop {
        let buf = conn.data_buf();
        let room = buf.len();
        let n = read_full(&mut input, buf).map_err(|e| disk(&entry.path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if entry.size.is_some_and(|size| sent + n as u64 > size) {
            return Err(changed(conn, entry, "grew"));
        }
        conn.send_filled(n)?;
        sent += n as u64;
        progress.add(n as u64);
        if n < room {
            // `read_full` stopped at the end of the input: no need to read it again.
            break;
        }
    }
    Ok(sent)
}

/// Sends a mapped body from `from` on, each chunk hashed and sent straight from the
/// page cache; returns where the body ended (the map's end).
fn send_mapped<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    map: &Mapped,
    file: &File,
    from: u64,
    entry: &Entry,
    hasher: &mut blake3::Hasher,
    progress: &mut Progress,
) -> Result<u64, TransferError> {
    let body = map.bytes();
    let mut at = from as usize;
    while at < body.len() {
        let chunk = &body[at..body.len().min(at + CHUNK)];
        hasher.update(chunk);
        if map.shrank() {
            return Err(changed(conn, entry, "shrank"));
        }
        match conn.send_data(chunk) {
            Ok(()) => {}
            // Cut short after this chunk was hashed: the kernel found a page missing
            // while sending it. The frame may be half sent, so nothing more is said.
            Err(WireError::Io(e)) if e.raw_os_error() == Some(libc::EFAULT) => {
                return Err(size_changed(entry, "shrank"));
            }
            Err(e) => return Err(e.into()),
        }
        map.release(at..at + chunk.len());
        at += chunk.len();
        progress.add(chunk.len() as u64);
    }
    // A shrink inside the last page reads as zeros, not as a fault; the size tells.
    let now = file.metadata().map_err(|e| disk(&entry.path, e))?.len();
    if now != body.len() as u64 {
        let how = if now > body.len() as u64 {
            "grew"
        } else {
            "shrank"
        };
        return Err(changed(conn, entry, how));
    }
    Ok(body.len() as u64)
}

/// A file changed size while it was sent: tells the receiver, which then keeps no
/// final file of it.
/// What changes when a file is written to or replaced, as tar's "file changed as we
/// read it" compares: which file it is, its size, and its modification and change
/// times (to the nanosecond the filesystem keeps).
#[derive(PartialEq, Eq)]
pub(super) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(super) fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

pub(super) fn changed<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    entry: &Entry,
    how: &str,
) -> TransferError {
    let e = size_changed(entry, how);
    conn.send_error(&e.to_string());
    e
}

fn size_changed(entry: &Entry, how: &str) -> TransferError {
    TransferError::Verify(format!("{} {how} while being sent", entry.path))
}

/// Fills `buf` unless the input ends first (so chunks are full-sized on pipes too).
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub(super) fn disk(what: &str, io: io::Error) -> TransferError {
    TransferError::Disk {
        what: format!("reading {what}"),
        io,
    }
}
