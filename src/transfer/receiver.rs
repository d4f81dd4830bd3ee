//! The receiver's side of one session: handshake, checking the manifest, the plan of
//! what is already here, then verifying each file before it gets its final name.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::code::Code;
use super::files::{self, Existing, Target};
use super::manifest::{check_manifest, Entry, Kind, MAX_ENTRIES};
use super::pake::{self, Session};
use super::plan::{offered_complete, plan, Local};
use super::progress::Progress;
use super::wire::{unexpected, Conn, Have, Msg, Record, WireError};
use super::writer::{Open, Writer};
use super::{batches, TransferError};
use crate::output::{Event, Printer};

/// What a receiver needs for one session.
#[derive(Clone)]
pub struct RecvJob {
    pub root: PathBuf,
    pub policy: Existing,
    /// Write the single file to stdout instead of `root`.
    pub to_stdout: bool,
    pub out: Printer,
}

/// Proves `code` to the sender `peer` on `conn` and checks its proof (one online
/// guess).
pub fn handshake<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    code: &Code,
    encrypt: bool,
    peer: SocketAddr,
    out: &Printer,
) -> Result<(), TransferError> {
    let Session { encrypted, verify } = pake::as_receiver(conn, code, encrypt)?;
    out.emit(&Event::Verified {
        peer,
        encrypted,
        verify,
    });
    Ok(())
}

/// Receives the transfer from a sender that passed `handshake`; returns the `done`
/// event.
pub fn receive<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    job: &RecvJob,
) -> Result<Event, TransferError> {
    let (entries, total) = read_manifest(conn)?;
    if let Err((path, why)) = check_manifest(&entries) {
        return Err(refuse(
            conn,
            format!("refusing the transfer: entry {path:?}: {why}"),
        ));
    }
    let files_total = entries.iter().filter(|e| e.kind == Kind::File).count() as u64;
    if job.to_stdout && (entries.len() != 1 || files_total != 1) {
        return Err(refuse(
            conn,
            "--stdout takes a transfer of exactly one file".into(),
        ));
    }
    let target = Target::new(&job.root)?;
    let mut locals = match plan(&entries, &target, job) {
        Ok(locals) => locals,
        Err(e) => return Err(refuse(conn, e.to_string())),
    };
    let mut have: Vec<Have> = locals
        .iter()
        .filter_map(|(&index, l)| {
            let (size, hasher) = l.resume.as_ref()?;
            Some(Have {
                index,
                size: *size,
                blake3: hasher.finalize().to_hex().to_string(),
                complete: false,
                send_if_differs: false,
            })
        })
        .collect();
    have.extend(offered_complete(&locals, job.policy)?);
    have.sort_by_key(|h| h.index);
    for chunk in batches(&have) {
        conn.send(&Msg::Plan {
            have: chunk.to_vec(),
        })?;
    }
    conn.send(&Msg::PlanEnd)?;
    conn.flush()?;

    if !job.to_stdout {
        for e in entries.iter().filter(|e| e.kind == Kind::Dir) {
            target
                .make_dir(&e.path)
                .map_err(|err| refuse(conn, err.to_string()))?;
        }
    }

    let progress = Progress::new(job.out.clone(), total, files_total);
    let mut writer = Writer::start(progress, job.root.clone(), job.policy);
    stream_files(conn, job, &entries, &mut locals, &have, &mut writer)?;
    if !locals.is_empty() {
        return Err(refuse(
            conn,
            format!(
                "the sender ended with {} not sent",
                count(locals.len() as u64, "file", "files")
            ),
        ));
    }
    let progress = writer.finish().map_err(|e| refuse(conn, e.to_string()))?;
    if !job.to_stdout {
        finish_tree(&entries, &target, job.policy).map_err(|e| refuse(conn, e.to_string()))?;
    }
    conn.send_last(&Msg::Result {
        files: progress.files,
        bytes: progress.bytes,
    })?;
    Ok(progress.done())
}

/// `1 entry`, `2 entries`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Tells the sender why this side stops, and returns the error for this side.
fn refuse<R: Read, W: Write>(conn: &mut Conn<R, W>, message: String) -> TransferError {
    conn.send_error(&message);
    TransferError::Refused(message)
}

fn read_manifest<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
) -> Result<(Vec<Entry>, Option<u64>), TransferError> {
    let mut entries = Vec::new();
    loop {
        match conn.recv_msg()? {
            Msg::Manifest { entries: batch } => {
                if entries.len() + batch.len() > MAX_ENTRIES {
                    return Err(refuse(
                        conn,
                        format!("the manifest has more than {MAX_ENTRIES} entries"),
                    ));
                }
                entries.extend(batch);
            }
            Msg::ManifestEnd { count, bytes } => {
                if count != entries.len() as u64 {
                    return Err(WireError::Malformed(format!(
                        "manifest_end counts {}, {} arrived",
                        self::count(count, "entry", "entries"),
                        entries.len()
                    ))
                    .into());
                }
                let unknown = entries
                    .iter()
                    .any(|e| e.kind == Kind::File && e.size.is_none());
                return Ok((entries, (!unknown).then_some(bytes)));
            }
            other => return Err(unexpected("manifest", &other).into()),
        }
    }
}

/// The manifest entry a `file`/`skip` message names: a file, later than the last one.
fn file_entry(entries: &[Entry], index: u64, next: u64) -> Result<&Entry, String> {
    match entries.get(index as usize) {
        Some(e) if e.kind == Kind::File && index >= next => Ok(e),
        _ => Err(format!(
            "the sender named entry {index}, which is not the next file"
        )),
    }
}

/// The file whose records are arriving.
struct Current<'e> {
    index: u64,
    entry: &'e Entry,
    hasher: blake3::Hasher,
    written: u64,
}

/// Reads every `file`/`skip` and the data until `done`, checking sizes and hashes here
/// while the disk thread writes. Errors other than the connection's are told to the
/// sender.
fn stream_files<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    job: &RecvJob,
    entries: &[Entry],
    locals: &mut HashMap<u64, Local>,
    have: &[Have],
    writer: &mut Writer,
) -> Result<(), TransferError> {
    let mut next = 0u64;
    let mut current: Option<Current> = None;
    loop {
        let step = match conn.recv()? {
            Record::Data(data) => match &mut current {
                Some(c) => {
                    c.written += data.len() as u64;
                    if c.entry.size.is_some_and(|size| c.written > size) {
                        Err(TransferError::Verify(format!(
                            "the sender sent more bytes of {} than it announced",
                            c.entry.path
                        )))
                    } else {
                        c.hasher.update(data);
                        writer.data(data).map(|_| true)
                    }
                }
                None => Err(WireError::Unexpected {
                    expected: "a message",
                    got: "file data".into(),
                }
                .into()),
            },
            Record::Msg(msg) => match current.take() {
                Some(c) => match msg {
                    Msg::FileEnd { index, blake3 } if index == c.index => {
                        commit(c, &blake3, writer).map(|_| true)
                    }
                    other => Err(unexpected("file data", &other).into()),
                },
                None => match msg {
                    Msg::File {
                        index,
                        offset,
                        restart,
                    } => start_file(job, entries, locals, index, next, offset, restart, writer)
                        .map(|c| {
                            next = index + 1;
                            current = Some(c);
                            true
                        }),
                    Msg::Skip { index } => {
                        skip(entries, locals, have, index, next, writer).map(|_| {
                            next = index + 1;
                            true
                        })
                    }
                    Msg::Done { .. } => Ok(false),
                    other => Err(unexpected("file", &other).into()),
                },
            },
        };
        match step {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e @ TransferError::Wire(_)) => return Err(e),
            Err(other) => return Err(refuse(conn, other.to_string())),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start_file<'e>(
    job: &RecvJob,
    entries: &'e [Entry],
    locals: &mut HashMap<u64, Local>,
    index: u64,
    next: u64,
    offset: u64,
    restart: bool,
    writer: &mut Writer,
) -> Result<Current<'e>, TransferError> {
    let entry = file_entry(entries, index, next).map_err(TransferError::Refused)?;
    let local = locals
        .remove(&index)
        .ok_or_else(|| TransferError::Refused("a file was sent twice".into()))?;
    if local.offered_complete && job.policy != Existing::Rename {
        return Err(TransferError::Conflict(format!(
            "{} already exists and differs (receive with --overwrite or --rename)",
            local.dest.display()
        )));
    }
    let (hasher, resumed) = match local.resume {
        Some((size, hasher)) if offset == size && offset > 0 => (*hasher, size),
        _ if offset == 0 => (blake3::Hasher::new(), 0),
        _ => {
            return Err(TransferError::Refused(format!(
                "the sender resumes {} at a point this side did not offer",
                entry.path
            )))
        }
    };
    if restart {
        job.out.emit(&Event::warning(format!(
            "{}: the partial file no longer matches; starting over",
            entry.path
        )));
    }
    let open = Open {
        path: entry.path.clone(),
        dest: (!job.to_stdout).then_some(local.dest),
        offset: resumed,
        fresh: !local.part_exists,
        mode: entry.mode,
        mtime: entry.modified(),
    };
    writer.open(open, entry.size)?;
    Ok(Current {
        index,
        entry,
        hasher,
        written: resumed,
    })
}

/// Checks a whole file's size and BLAKE3; only then may the disk thread name it.
fn commit(c: Current, sent_hash: &str, writer: &mut Writer) -> Result<(), TransferError> {
    if c.entry.size.is_some_and(|size| c.written != size) {
        return Err(TransferError::Verify(format!(
            "{}: {} bytes arrived, {} were announced",
            c.entry.path,
            c.written,
            c.entry.size.unwrap_or(0)
        )));
    }
    let ours = c.hasher.finalize().to_hex().to_string();
    if ours != sent_hash {
        return Err(TransferError::Verify(format!(
            "{}: BLAKE3 mismatch: the data arrived damaged; run recv again to retry",
            c.entry.path
        )));
    }
    writer.commit(ours)
}

fn skip(
    entries: &[Entry],
    locals: &mut HashMap<u64, Local>,
    have: &[Have],
    index: u64,
    next: u64,
    writer: &mut Writer,
) -> Result<(), TransferError> {
    let entry = file_entry(entries, index, next).map_err(TransferError::Refused)?;
    if !locals.remove(&index).is_some_and(|l| l.offered_complete) {
        return Err(TransferError::Refused(format!(
            "the sender skipped {}, which is not here",
            entry.path
        )));
    }
    let blake3 = have
        .iter()
        .find(|h| h.index == index)
        .map(|h| h.blake3.clone())
        .unwrap_or_default();
    writer.skip(entry.path.clone(), entry.size.unwrap_or(0), blake3)
}

/// After every file: links (checked to stay inside), then folders' modes and times,
/// deepest first so that writing inside a folder does not change its time again.
fn finish_tree(entries: &[Entry], target: &Target, policy: Existing) -> Result<(), TransferError> {
    for e in entries.iter().filter(|e| e.kind == Kind::Symlink) {
        let dest = target.resolve(&e.path)?;
        if files::existing(&dest).is_some() {
            match policy {
                Existing::Overwrite if files::existing(&dest).is_some_and(|m| !m.is_dir()) => {
                    std::fs::remove_file(&dest).map_err(|io| TransferError::Disk {
                        what: format!("replacing {}", dest.display()),
                        io,
                    })?;
                }
                _ => continue,
            }
        }
        let link_target = e.target.as_deref().unwrap_or_default();
        std::os::unix::fs::symlink(link_target, &dest).map_err(|io| TransferError::Disk {
            what: format!("creating link {}", dest.display()),
            io,
        })?;
    }
    for e in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
        files::finish_dir(&target.resolve(&e.path)?, e.mode, e.modified());
    }
    Ok(())
}
