//! The sender's side of one session: handshake, manifest, the receiver's plan, then
//! every file body back to back with no per-file round trip.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};

use super::body::{changed, disk, open_at, send_body, Input, Stamp};
use super::manifest::{Kind, Offer, Source};
use super::progress::Progress;
use super::wire::{unexpected, Conn, Have, Msg, WireError};
use super::TransferError;
use crate::output::{Event, Printer};

/// What a sender needs to serve a receiver.
pub struct SendJob {
    pub offer: std::sync::Arc<Offer>,
    pub out: Printer,
}

/// Sends the offer to a receiver that passed the handshake (`gate::handshake`, or
/// another protocol's: `keyed`); returns the `done` event.
pub fn serve<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    job: &SendJob,
) -> Result<Event, TransferError> {
    let offer = &*job.offer;
    for json in offer.encoded_manifest() {
        conn.send_encoded(json)?;
    }
    conn.send(&Msg::ManifestEnd {
        count: offer.entries.len() as u64,
        bytes: offer.total_bytes(),
    })?;
    conn.flush()?;

    let plan = read_plan(conn, offer.entries.len())?;
    let starts = match decide(offer, &plan) {
        Ok(starts) => starts,
        Err(e) => {
            conn.send_error(&e.to_string());
            return Err(e);
        }
    };

    let mut progress = Progress::new(
        job.out.clone(),
        Some(offer.total_bytes()),
        offer.files() as u64,
    );
    let mut folder = None;
    for (index, entry) in offer.entries.iter().enumerate() {
        if entry.kind != Kind::File {
            continue;
        }
        let index = index as u64;
        let start = starts.get(&index).cloned().unwrap_or_default();
        if start.unchanged {
            conn.send(&Msg::Skip { index })?;
            progress.add_existing(entry.size.unwrap_or(0));
            progress.file(Event::File {
                path: entry.path.clone(),
                bytes: entry.size.unwrap_or(0),
                blake3: start.hash_hex,
                resumed: 0,
                unchanged: true,
                sha256: None,
            });
            continue;
        }
        conn.send(&Msg::File {
            index,
            offset: start.offset,
            restart: start.restart,
        })?;
        progress.start_file(&entry.path);
        progress.add_existing(start.offset);
        let mut hasher = start.hasher;
        let source = &offer.sources[index as usize];
        let input = open_at(&mut folder, source, start.offset)?;
        let before = match &input {
            Input::File(f) => Some(Stamp::of(&f.metadata().map_err(|e| disk(&entry.path, e))?)),
            Input::Stdin => None,
        };
        let sent = send_body(conn, input, start.offset, entry, &mut hasher, &mut progress)?;
        if entry.size.is_some_and(|size| sent != size) {
            return Err(changed(conn, entry, "shrank"));
        }
        // Written to while it was read (the same size, other bytes): what was sent may
        // be a mix that never existed, so it is not offered as this file.
        if let (Some(before), Source::Path(path)) = (before, source) {
            let after = std::fs::metadata(path).map_err(|e| disk(&entry.path, e))?;
            if Stamp::of(&after) != before {
                return Err(changed(conn, entry, "changed"));
            }
        }
        let blake3 = hasher.finalize().to_hex().to_string();
        conn.send(&Msg::FileEnd {
            index,
            blake3: blake3.clone(),
        })?;
        progress.file(Event::File {
            path: entry.path.clone(),
            bytes: sent,
            blake3,
            resumed: start.offset,
            unchanged: false,
            sha256: None,
        });
    }
    conn.send_last(&Msg::Done {
        files: progress.files,
        bytes: progress.bytes,
    })?;
    match conn.recv_msg()? {
        Msg::Result { .. } => Ok(progress.done()),
        other => Err(unexpected("result", &other).into()),
    }
}

/// Reads `plan` batches until `plan_end`; at most one entry per manifest entry.
fn read_plan<R: Read, W: Write>(
    conn: &mut Conn<R, W>,
    entries: usize,
) -> Result<HashMap<u64, Have>, TransferError> {
    let mut plan = HashMap::new();
    loop {
        match conn.recv_msg()? {
            Msg::Plan { have } => {
                for h in have {
                    if h.index >= entries as u64 || plan.insert(h.index, h).is_some() {
                        return Err(WireError::Malformed(
                            "plan names an entry twice or one that does not exist".into(),
                        )
                        .into());
                    }
                }
            }
            Msg::PlanEnd => return Ok(plan),
            other => return Err(unexpected("plan", &other).into()),
        }
    }
}

/// Where one file's body starts.
#[derive(Default, Clone)]
struct Start {
    offset: u64,
    /// The receiver had a prefix that no longer matches this file.
    restart: bool,
    /// The receiver already has this exact file.
    unchanged: bool,
    hasher: blake3::Hasher,
    hash_hex: String,
}

/// Compares what the receiver has with the local files. A finished file that differs
/// is a conflict, reported before any body is sent.
fn decide(offer: &Offer, plan: &HashMap<u64, Have>) -> Result<HashMap<u64, Start>, TransferError> {
    let mut starts = HashMap::new();
    for (&index, have) in plan {
        let entry = &offer.entries[index as usize];
        let Some(size) = entry.size.filter(|_| entry.kind == Kind::File) else {
            return Err(WireError::Malformed(format!(
                "plan for {}, which is not a file of known size",
                entry.path
            ))
            .into());
        };
        if have.size > size {
            starts.insert(
                index,
                Start {
                    restart: true,
                    ..Start::default()
                },
            );
            continue;
        }
        let (hasher, hex) = hash_prefix(&offer.sources[index as usize], have.size)
            .map_err(|e| disk(&entry.path, e))?;
        let same = hex == have.blake3;
        if have.complete {
            if !(same && have.size == size) && have.send_if_differs {
                starts.insert(index, Start::default());
                continue;
            }
            if !(same && have.size == size) {
                return Err(TransferError::Conflict(format!(
                    "{} already exists on the receiver and differs (receive with --overwrite or --rename)",
                    entry.path
                )));
            }
            starts.insert(
                index,
                Start {
                    unchanged: true,
                    hash_hex: hex,
                    ..Start::default()
                },
            );
        } else if same {
            starts.insert(
                index,
                Start {
                    offset: have.size,
                    hasher,
                    ..Start::default()
                },
            );
        } else {
            starts.insert(
                index,
                Start {
                    restart: true,
                    ..Start::default()
                },
            );
        }
    }
    Ok(starts)
}

/// BLAKE3 of the first `len` bytes of `source`, and the hasher to continue from.
fn hash_prefix(source: &Source, len: u64) -> io::Result<(blake3::Hasher, String)> {
    let mut hasher = blake3::Hasher::new();
    let Source::Path(path) = source else {
        return Ok((hasher.clone(), hasher.finalize().to_hex().to_string()));
    };
    let mut file = File::open(path)?.take(len);
    io::copy(&mut file, &mut hasher)?;
    let hex = hasher.finalize().to_hex().to_string();
    Ok((hasher, hex))
}
