//! The receiver's plan: file by file, what is already here (a finished file to
//! compare, a partial file to resume) and what stops the transfer before anything is
//! sent.

use std::collections::HashMap;
use std::path::PathBuf;

use super::files::{self, Existing, Target};
use super::manifest::{Entry, Kind};
use super::receiver::RecvJob;
use super::survey::Survey;
use super::wire::Have;
use super::TransferError;

/// A file's local state, decided before the plan is sent.
pub(super) struct Local {
    pub(super) dest: PathBuf,
    /// A partial file prefix to continue from, with its hash state.
    /// Boxed: a hasher is about 2 KiB, and there is a `Local` per file of the manifest.
    pub(super) resume: Option<(u64, Box<blake3::Hasher>)>,
    /// A finished, same-size file was offered to the sender for comparison.
    pub(super) offered_complete: bool,
    /// A partial file was there at the plan (resumable or not).
    pub(super) part_exists: bool,
}

/// Decides, file by file, what is already here. An existing file that cannot be the
/// same (another size, or not a file) stops the transfer before anything is sent.
pub(super) fn plan(
    entries: &[Entry],
    target: &Target,
    job: &RecvJob,
) -> Result<HashMap<u64, Local>, TransferError> {
    let mut locals = HashMap::new();
    let mut survey = Survey::new(target.root());
    for (index, e) in entries.iter().enumerate() {
        let (dest, (found, part_found)) = if job.to_stdout {
            (PathBuf::from(&e.path), (None, None))
        } else {
            (target.root().join(&e.path), survey.lookup(&e.path)?)
        };
        let in_the_way = |what: &str| {
            TransferError::Conflict(format!(
                "{} already exists{what} (receive with --overwrite or --rename)",
                dest.display()
            ))
        };
        match (e.kind, &found, job.policy) {
            (Kind::Dir, Some(m), _) if !m.is_dir() => {
                return Err(in_the_way(" and is not a folder"))
            }
            (Kind::Symlink, Some(_), Existing::Refuse) => return Err(in_the_way("")),
            _ => {}
        }
        if e.kind != Kind::File {
            continue;
        }
        let mut offered_complete = false;
        match (&found, job.policy) {
            (Some(m), Existing::Refuse) => {
                if !m.is_file() || Some(m.len()) != e.size {
                    return Err(in_the_way(" and differs"));
                }
                offered_complete = true;
            }
            // `--rename` keeps both only when they differ: a same-size file is offered
            // for comparison, and the sender sends it only if it is not the same.
            (Some(m), Existing::Rename) if m.is_file() && Some(m.len()) == e.size => {
                offered_complete = true;
            }
            _ => {}
        }
        let part = files::part_path(&dest);
        let resume = match (&part_found, e.size) {
            (Some(m), Some(size))
                if m.is_file() && m.len() <= size && !job.to_stdout && !offered_complete =>
            {
                let (hasher, _, len) = files::hash_file(&part)?;
                Some((len, Box::new(hasher)))
            }
            _ => None,
        };
        locals.insert(
            index as u64,
            Local {
                dest,
                resume,
                offered_complete,
                part_exists: part_found.is_some(),
            },
        );
    }
    Ok(locals)
}

/// `have` entries for finished files, hashed only now (after every cheaper check).
pub(super) fn offered_complete(
    locals: &HashMap<u64, Local>,
    policy: Existing,
) -> Result<Vec<Have>, TransferError> {
    let mut have = Vec::new();
    for (&index, l) in locals.iter().filter(|(_, l)| l.offered_complete) {
        let (_, hex, len) = files::hash_file(&l.dest)?;
        have.push(Have {
            index,
            size: len,
            blake3: hex,
            complete: true,
            send_if_differs: policy == Existing::Rename,
        });
    }
    Ok(have)
}
