//! Writes a folder walk (`archive_walk`) as a tar or zip stream into a `Sink`, which
//! hands it to the response in bounded chunks. Runs on a blocking thread: every file
//! read and every wait for the client happens there, never on a runtime worker.
//!
//! Both formats are written with their crates (`tar`, `zip` in its streaming mode, with
//! data descriptors and zip64 fields where sizes need them). Entries are stored, not
//! compressed: the server spends no CPU on it, and what people download in bulk
//! (photos, video, archives) rarely shrinks.
//!
//! A file is read as it was when opened: its size then is the size of its entry. A file
//! that grew gives only that many bytes; one that shrank cuts the archive with an
//! error — a tar header cannot be taken back, and padding with made-up zeros would be
//! an archive that lies. The response is already `200 OK` by then, so the client sees
//! the connection end before the archive does (chunked, with no last chunk).

use std::cell::Cell;
use std::fs::{File, Metadata};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::archive_walk::{Item, Walk};

/// The archive's bytes are handed to the response in chunks of this size.
pub const CHUNK: usize = 64 * 1024;

/// Chunks queued between the writer and the response: with the chunk being filled,
/// at most 5 × 64 KiB of an archive wait in sockit (and at most hyper's write buffer,
/// 400 KiB, in the connection). A full queue stops the writer until the client reads.
pub const QUEUE_CHUNKS: usize = 4;

/// The size of each read from a file.
const READ_CHUNK: usize = 256 * 1024;

/// A file of this size or more needs zip64 fields.
const ZIP64_SIZE: u64 = u32::MAX as u64;

/// What the response receives: chunks, then the end (the sender dropped) or an error
/// that cuts it.
pub type Chunk = io::Result<Bytes>;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    Zip,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::Zip => "zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Tar => "application/x-tar",
            Format::Zip => "application/zip",
        }
    }
}

/// Writes the archive of `walk` into `tx`. On an error the archive is cut: the error is
/// sent instead of the rest (unless the client has left).
pub fn write(format: Format, walk: &mut Walk, tx: mpsc::Sender<Chunk>) {
    let sink = Sink::new(tx.clone());
    let written = match format {
        Format::Tar => tar(walk, sink),
        Format::Zip => zip(walk, sink),
    }
    .and_then(Sink::finish);
    if let Err(e) = written {
        // Fails, harmlessly, when the client has left.
        let _ = tx.blocking_send(Err(e));
    }
}

fn tar(walk: &mut Walk, sink: Sink) -> io::Result<Sink> {
    let discard = sink.discard.clone();
    let mut builder = tar::Builder::new(sink);
    if let Err(e) = tar_entries(&mut builder, walk) {
        // `Builder`'s drop ends the archive: those bytes must not reach the client.
        discard.set(true);
        return Err(e);
    }
    builder.into_inner()
}

fn tar_entries(builder: &mut tar::Builder<Sink>, walk: &mut Walk) -> io::Result<()> {
    while let Some(item) = walk.next() {
        let item = item.map_err(io::Error::other)?;
        let name = Path::new(std::ffi::OsStr::from_bytes(&item.name));
        let mut header = tar::Header::new_gnu();
        if item.meta.is_dir() {
            set_times(&mut header, &item.meta);
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder.append_data(&mut header, name, io::empty())?;
            continue;
        }
        let Some((file, meta)) = open(&item, walk) else {
            continue;
        };
        set_times(&mut header, &meta);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(meta.len());
        builder.append_data(&mut header, name, Exact::new(file, &meta, &item))?;
    }
    Ok(())
}

fn set_times(header: &mut tar::Header, meta: &Metadata) {
    header.set_mode(meta.mode() & 0o777);
    header.set_mtime(meta.mtime().max(0) as u64);
}

fn zip(walk: &mut Walk, sink: Sink) -> io::Result<Sink> {
    let discard = sink.discard.clone();
    let mut zip = ZipWriter::new_stream(sink);
    if let Err(e) = zip_entries(&mut zip, walk) {
        // `ZipWriter`'s drop writes the central directory: it must not reach the client.
        discard.set(true);
        return Err(e);
    }
    Ok(zip.finish()?.into_inner())
}

fn zip_entries(zip: &mut ZipWriter<StreamWriter<Sink>>, walk: &mut Walk) -> io::Result<()> {
    while let Some(item) = walk.next() {
        let item = item.map_err(io::Error::other)?;
        if item.meta.is_dir() {
            zip.add_directory(item.text_name(), zip_options(&item.meta))?;
            continue;
        }
        let Some((file, meta)) = open(&item, walk) else {
            continue;
        };
        let options = zip_options(&meta).large_file(meta.len() >= ZIP64_SIZE);
        match zip.start_file(item.text_name(), options) {
            Ok(()) => {}
            Err(zip::result::ZipError::Io(e)) => return Err(e),
            // Nothing written yet: two names that differ only in bytes that are not
            // UTF-8 are one zip name, and the second is left out.
            Err(e) => {
                walk.left_out.note(&item.name, e);
                continue;
            }
        }
        io::copy(&mut Exact::new(file, &meta, &item), zip)?;
    }
    Ok(())
}

fn zip_options(meta: &Metadata) -> SimpleFileOptions {
    // zip dates have no zone: UTC, as the listing shows them.
    let date = time::OffsetDateTime::from_unix_timestamp(meta.mtime())
        .ok()
        .and_then(|t| {
            zip::DateTime::try_from(time::PrimitiveDateTime::new(t.date(), t.time())).ok()
        })
        .unwrap_or_default();
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(date)
        .unix_permissions(meta.mode() & 0o777)
}

/// `item` opened for reading, with what it is now; `None` (noted in `walk.left_out`)
/// when it cannot be read or is no longer a plain file.
fn open(item: &Item, walk: &mut Walk) -> Option<(File, Metadata)> {
    // Non-blocking so that a FIFO swapped in since the walk cannot hold the open, and
    // no symlink: `item.path` is where the walk's checks said the file is.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&item.path)
        .and_then(|f| Ok((f.metadata()?, f)));
    match opened {
        Ok((meta, file)) if meta.is_file() => Some((file, meta)),
        Ok(_) => None,
        Err(e) => {
            walk.left_out.note(&item.name, e);
            None
        }
    }
}

/// The first `len` bytes of a file, where `len` is its size when opened: more is not
/// read, and fewer is an error (see the module comment).
struct Exact {
    file: BufReader<File>,
    left: u64,
    name: Vec<u8>,
}

impl Exact {
    fn new(file: File, meta: &Metadata, item: &Item) -> Self {
        // A small file needs no more than its size (archives are often of many).
        let buffer = usize::try_from(meta.len()).map_or(READ_CHUNK, |n| n.clamp(1, READ_CHUNK));
        Exact {
            file: BufReader::with_capacity(buffer, file),
            left: meta.len(),
            name: item.name.clone(),
        }
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let most = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..most])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank while it was archived",
                    String::from_utf8_lossy(&self.name)
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The archive's way out: bytes gathered into `CHUNK`s and sent to the response, whose
/// queue is bounded (`QUEUE_CHUNKS`), so that a slow client slows the writer.
struct Sink {
    tx: mpsc::Sender<Chunk>,
    buf: BytesMut,
    /// Set when the client has left or the archive was cut: later writes (an archive
    /// writer's drop ending its archive) are dropped unseen.
    discard: Rc<Cell<bool>>,
}

impl Sink {
    fn new(tx: mpsc::Sender<Chunk>) -> Self {
        Sink {
            tx,
            buf: BytesMut::with_capacity(CHUNK),
            discard: Rc::default(),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            self.discard.set(true);
            io::Error::new(io::ErrorKind::BrokenPipe, "the client left")
        })
    }

    /// Sends what is left: the archive is complete.
    fn finish(mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.discard.get() {
            return Ok(data.len());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
