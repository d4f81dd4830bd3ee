//! The receiver's disk: paths resolved under `-o DIR` without passing through any
//! symlink, `.part` files, and the verified rename to the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::TransferError;

/// The suffix of a file still being received.
pub const PART_SUFFIX: &str = ".part";

/// What to do when a file of the same name is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it if identical, otherwise stop before anything is sent.
    Refuse,
    Overwrite,
    /// Keep it and name the new one `name (1).ext`.
    Rename,
}

/// The folder everything is written under.
pub struct Target {
    root: PathBuf,
}

fn refuse(msg: String) -> TransferError {
    TransferError::Refused(msg)
}

fn disk(what: String, io: io::Error) -> TransferError {
    TransferError::Disk { what, io }
}

impl Target {
    pub fn new(root: &Path) -> Result<Target, TransferError> {
        fs::create_dir_all(root).map_err(|e| disk(format!("creating {}", root.display()), e))?;
        Ok(Target {
            root: root.to_owned(),
        })
    }

    /// The local path of a checked relative path. Every existing folder on the way must
    /// be a real folder, not a symlink: nothing is written through a link.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, TransferError> {
        let mut path = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            if i + 1 == parts.len() {
                break;
            }
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(refuse(format!(
                        "{} is in the way: not a folder (or a symlink)",
                        path.display()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(disk(format!("checking {}", path.display()), e)),
            }
        }
        Ok(path)
    }

    /// Creates a folder and its missing parents, refusing to pass through symlinks.
    pub fn make_dir(&self, rel: &str) -> Result<PathBuf, TransferError> {
        let path = self.resolve(rel)?;
        let mut at = self.root.clone();
        for part in rel.split('/') {
            at.push(part);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(refuse(format!(
                        "{} is in the way: not a folder",
                        at.display()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(disk(format!("checking {}", at.display()), e)),
            }
            fs::create_dir(&at).map_err(|e| disk(format!("creating {}", at.display()), e))?;
        }
        Ok(path)
    }
}

pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// What kind of thing is at `path`, without following a symlink there.
pub fn existing(path: &Path) -> Option<fs::Metadata> {
    fs::symlink_metadata(path).ok()
}

/// Opens the `.part` file to continue at `offset` (0: start afresh). `O_NOFOLLOW`
/// refuses a symlink planted under the `.part` name.
pub fn open_part(part: &Path, offset: u64) -> Result<File, TransferError> {
    let fail = |e| disk(format!("opening {}", part.display()), e);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(offset == 0)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(part)
        .map_err(fail)?;
    if offset > 0 {
        file.set_len(offset).map_err(fail)?;
        file.seek(SeekFrom::Start(offset)).map_err(fail)?;
    }
    Ok(file)
}

/// Hashes an existing regular file (a `.part` prefix or a finished file).
pub fn hash_file(path: &Path) -> Result<(blake3::Hasher, String, u64), TransferError> {
    let fail = |e| disk(format!("reading {}", path.display()), e);
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(fail)?;
    let mut hasher = blake3::Hasher::new();
    let len = io::copy(&mut file, &mut hasher).map_err(fail)?;
    let hex = hasher.finalize().to_hex().to_string();
    Ok((hasher, hex, len))
}

/// Gives a verified `.part` its mode and time, and renames it to its final name.
pub fn finish(
    file: File,
    part: &Path,
    dest: &Path,
    mode: u32,
    mtime: i64,
    policy: Existing,
) -> Result<PathBuf, TransferError> {
    let fail = |what: &str, e| disk(format!("{what} {}", part.display()), e);
    file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| fail("setting the mode of", e))?;
    if let Some(t) = epoch_time(mtime) {
        file.set_modified(t)
            .map_err(|e| fail("setting the time of", e))?;
    }
    // No fsync per file (as with cp, tar and rsync): on a disk, 10,000 small files would
    // cost 10,000 flushes. A power cut may leave the newest files empty; a later run
    // sees the wrong size and refuses or resends them, as for any conflict.
    drop(file);
    let dest = match policy {
        Existing::Rename => free_name(dest),
        _ => dest.to_owned(),
    };
    fs::rename(part, &dest).map_err(|e| {
        disk(
            format!("renaming {} to {}", part.display(), dest.display()),
            e,
        )
    })?;
    Ok(dest)
}

/// `name.ext`, or the first free `name (N).ext`.
pub fn free_name(dest: &Path) -> PathBuf {
    if existing(dest).is_none() {
        return dest.to_owned();
    }
    let stem = dest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..)
        .map(|n| dest.with_file_name(format!("{stem} ({n}){ext}")))
        .find(|p| existing(p).is_none())
        .expect("some number is free")
}

pub fn epoch_time(secs: i64) -> Option<std::time::SystemTime> {
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Gives a folder its mode and time once its contents are written.
pub fn finish_dir(path: &Path, mode: u32, mtime: i64) {
    let _ = fs::set_permissions(path, fs::Permissions::from_mode((mode & 0o777) | 0o700));
    if let (Some(t), Ok(dir)) = (epoch_time(mtime), File::open(path)) {
        let _ = dir.set_modified(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_names_count_up() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("photo.png");
        assert_eq!(free_name(&a), a);
        fs::write(&a, "x").unwrap();
        assert_eq!(free_name(&a), dir.path().join("photo (1).png"));
        fs::write(dir.path().join("photo (1).png"), "x").unwrap();
        assert_eq!(free_name(&a), dir.path().join("photo (2).png"));
        let b = dir.path().join("README");
        fs::write(&b, "x").unwrap();
        assert_eq!(free_name(&b), dir.path().join("README (1)"));
    }

    #[test]
    fn nothing_is_resolved_through_a_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let t = Target::new(dir.path()).unwrap();
        assert!(t.resolve("link/x").is_err());
        assert!(t.make_dir("link/sub").is_err());
        assert!(t.make_dir("real/sub").is_ok());
        assert!(dir.path().join("real/sub").is_dir());
    }

    #[test]
    fn a_symlink_under_the_part_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("f.part")).unwrap();
        assert!(open_part(&dir.path().join("f.part"), 0).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }
}
