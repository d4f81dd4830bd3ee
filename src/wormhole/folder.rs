//! Folders in the v1 file transfer travel as one zip (file-transfer-protocol.md,
//! `directory`). Sending, the folder is zipped (stored entries) into an unnamed
//! temporary file first, because the offer must say the zip's size. Receiving, the zip
//! is untrusted: every entry is checked as `recv` checks names from its own protocol
//! (no absolute paths, `..`, control characters, symlinks, nothing through a link,
//! bounded count and size) before anything is extracted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::transfer::{check_path, existing, free_name, Existing, Target, MAX_DEPTH, MAX_ENTRIES};

/// The mode the offer names. Every client writes this; a zip of stored entries (what
/// sockit and the Python client write) is a valid `zipfile/deflated` for every reader.
pub const ZIP_MODE: &str = "zipfile/deflated";

/// A zipped folder, ready to offer.
pub struct Zipped {
    /// The zip, in an unlinked temporary file (gone when closed), at its start.
    pub file: File,
    pub zipsize: u64,
    /// Bytes of the files in it.
    pub numbytes: u64,
    /// Files in it (folders not counted, as the other clients count).
    pub numfiles: u64,
    /// Entries left out (symlinks, special files, names that are not UTF-8).
    pub left_out: Vec<String>,
}

/// Zips `dir` (its contents, relative to it) into an unlinked temporary file.
/// Symlinks, special files and names that are not UTF-8 are left out and listed.
pub fn zip_folder(dir: &Path) -> anyhow::Result<Zipped> {
    let tmp = std::env::temp_dir().join(format!(
        ".sockit-wormhole-{}.zip",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", tmp.display()))?;
    // Unlinked at once: the zip never outlives this process, whatever happens.
    let _ = fs::remove_file(&tmp);
    let mut zip = ZipWriter::new(file);
    let mut z = Zipping {
        numbytes: 0,
        numfiles: 0,
        entries: 0,
        left_out: Vec::new(),
    };
    z.add(&mut zip, dir, "", 0)?;
    let mut file = zip.finish()?;
    let zipsize = file.seek(io::SeekFrom::End(0))?;
    file.rewind()?;
    Ok(Zipped {
        file,
        zipsize,
        numbytes: z.numbytes,
        numfiles: z.numfiles,
        left_out: z.left_out,
    })
}

struct Zipping {
    numbytes: u64,
    numfiles: u64,
    /// Files and folders so far (`MAX_ENTRIES`).
    entries: usize,
    left_out: Vec<String>,
}

impl Zipping {
    fn add(
        &mut self,
        zip: &mut ZipWriter<File>,
        dir: &Path,
        prefix: &str,
        depth: usize,
    ) -> anyhow::Result<()> {
        if depth >= MAX_DEPTH {
            anyhow::bail!("{}: nested deeper than {MAX_DEPTH}", dir.display());
        }
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                self.left_out.push(format!("{}: not UTF-8", path.display()));
                continue;
            };
            let rel = format!("{prefix}{name}");
            let meta = fs::symlink_metadata(&path)?;
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                anyhow::bail!("{}: more than {MAX_ENTRIES} entries", dir.display());
            }
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                .unix_permissions(meta.permissions().mode() & 0o777);
            if meta.is_dir() {
                zip.add_directory(format!("{rel}/"), options)?;
                self.add(zip, &path, &format!("{rel}/"), depth + 1)?;
            } else if meta.is_file() {
                let mut file =
                    File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                zip.start_file(&rel, options.large_file(meta.len() >= u32::MAX as u64))?;
                self.numbytes += io::copy(&mut file, zip)?;
                self.numfiles += 1;
            } else {
                self.left_out
                    .push(format!("{}: not a file or folder", path.display()));
            }
        }
        Ok(())
    }
}

/// Where an offered folder goes under `output`, with the policy for one already there
/// (`--overwrite` writes into it, `--rename` picks `name (1)`). Errors are sent to
/// the sender too: they name the folder only.
pub fn destination(output: &Path, name: &str, policy: Existing) -> Result<PathBuf, String> {
    let parts = check_path(name).map_err(|e| format!("refusing the name {name:?}: {e}"))?;
    if parts.len() != 1 {
        return Err(format!(
            "refusing the name {name:?}: not a plain folder name"
        ));
    }
    let target = Target::new(output).map_err(|e| e.to_string())?;
    let dest = target.resolve(name).map_err(|e| e.to_string())?;
    match (existing(&dest), policy) {
        (None, _) => Ok(dest),
        (Some(m), _) if !m.is_dir() => Err(format!("{name} is already there and is not a folder")),
        (Some(_), Existing::Overwrite) => Ok(dest),
        (Some(_), Existing::Rename) => Ok(free_name(&dest)),
        (Some(_), Existing::Refuse) => Err(format!(
            "a folder {name} is already there (--overwrite writes into it, --rename keeps both)"
        )),
    }
}

/// One file written by `extract`.
pub struct Extracted {
    /// Its path under the output folder, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub blake3: String,
}

/// Why a zip is refused.
fn hostile(what: String) -> anyhow::Error {
    anyhow::anyhow!("refusing the folder: {what}")
}

/// Extracts the zip in `file` into `dest` (a folder under `output`, created), after
/// checking every entry: names as `recv` checks them, no symlinks, at most
/// `MAX_ENTRIES` entries and `max_bytes` bytes in all (what the offer announced). A
/// file already there is replaced only with `Existing::Overwrite`.
pub fn extract(
    file: File,
    output: &Path,
    dest: &Path,
    max_bytes: u64,
    policy: Existing,
) -> anyhow::Result<Vec<Extracted>> {
    let mut zip = ZipArchive::new(file).map_err(|e| hostile(format!("not a zip: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(hostile(format!(
            "{} entries (at most {MAX_ENTRIES})",
            zip.len()
        )));
    }
    // First every entry is checked; nothing is written unless all pass.
    let mut declared = 0u64;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i)?;
        let name = entry
            .name()
            .map_err(|e| hostile(format!("entry {i}: {e}")))?
            .trim_end_matches('/')
            .to_owned();
        check_path(&name).map_err(|e| hostile(format!("{name:?}: {e}")))?;
        let link = entry
            .unix_mode()
            .is_some_and(|m| m & libc::S_IFMT == libc::S_IFLNK);
        if link {
            return Err(hostile(format!("{name:?} is a symlink")));
        }
        declared = declared.saturating_add(entry.size());
        if declared > max_bytes {
            return Err(hostile(format!(
                "its files hold more than the {max_bytes} bytes the offer announced"
            )));
        }
        names.push((name, entry.is_dir(), entry.unix_mode()));
    }
    let rel_root = dest
        .strip_prefix(output)
        .map_err(|_| anyhow::anyhow!("{} is not under {}", dest.display(), output.display()))?
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{}: not UTF-8", dest.display()))?
        .to_owned();
    let target = Target::new(output)?;
    target.make_dir(&rel_root)?;
    let mut written = Vec::new();
    let mut budget = max_bytes;
    for (i, (name, is_dir, mode)) in names.into_iter().enumerate() {
        let rel = format!("{rel_root}/{name}");
        if is_dir {
            target.make_dir(&rel)?;
            continue;
        }
        if let Some((parent, _)) = rel.rsplit_once('/') {
            target.make_dir(parent)?;
        }
        let path = target.resolve(&rel)?;
        match (existing(&path), policy) {
            (None, _) => {}
            (Some(m), Existing::Overwrite) if m.is_file() => {}
            _ => anyhow::bail!("{} is already there", path.display()),
        }
        let mut entry = zip.by_index(i)?;
        let (bytes, blake3) = write_entry(&mut entry, &path, budget, mode)?;
        budget -= bytes;
        written.push(Extracted {
            path: rel,
            bytes,
            blake3,
        });
    }
    Ok(written)
}

/// Writes one entry's bytes (at most `budget`: a zip may lie about sizes) to a partial
/// file beside `path`, then names it.
fn write_entry(
    entry: &mut impl Read,
    path: &Path,
    budget: u64,
    mode: Option<u32>,
) -> anyhow::Result<(u64, String)> {
    let part = crate::transfer::part_path(path);
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(mode.map_or(0o644, |m| (m & 0o777) | 0o600))
        .open(&part)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", part.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut limited = entry.take(budget.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    let mut bytes = 0u64;
    loop {
        let n = limited
            .read(&mut buf)
            .map_err(|e| hostile(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if bytes > budget {
            let _ = fs::remove_file(&part);
            return Err(hostile("it unpacks to more than it announced".into()));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", part.display()))?;
    }
    out.sync_all()?;
    fs::rename(&part, path).map_err(|e| anyhow::anyhow!("naming {}: {e}", path.display()))?;
    Ok((bytes, hasher.finalize().to_hex().to_string()))
}

#[cfg(test)]
#[path = "folder_tests.rs"]
mod tests;
