//! The receiver's disk: paths resolved under `-o DIR` without passing through any
//! symlink, partial files, and the verified rename to the final name.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};
use std::time::SystemTime;

use super::TransferError;

/// How the partial file of a file still being received begins. Every name with this
/// prefix is reserved: `recv` refuses such names from the wire and `send` leaves them
/// out, so a partial file never shares its name with a real one.
pub const PART_PREFIX: &str = ".sockit-part-";

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

    /// The output folder.
    pub fn root(&self) -> &Path {
        &self.root
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

/// Where the partial file of `dest` is: beside it (so the final rename stays in one
/// folder, one filesystem), named `PART_PREFIX` and 32 hex digits of a BLAKE3 of the
/// final name (docs/protocol.md, "Resuming"). Not `NAME.part`: that is a name real files
/// have (browsers' partial downloads), and it would not fit NAME_MAX for a name of more
/// than 250 bytes; this one is 45 bytes whatever the name.
pub fn part_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().expect("a file name");
    dest.with_file_name(part_name(name))
}

/// The partial file's name for a file named `name` (see `part_path`).
pub fn part_name(name: &OsStr) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStrExt;
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"sockit partial file 1\0");
    hasher.update(name.as_bytes());
    let hash = hasher.finalize();
    format!("{PART_PREFIX}{}", hex::encode(&hash.as_bytes()[..16])).into()
}

/// What kind of thing is at `path`, without following a symlink there.
pub fn existing(path: &Path) -> Option<fs::Metadata> {
    fs::symlink_metadata(path).ok()
}

/// A folder of the output tree, opened once so that its files are created and renamed
/// by names relative to it: the kernel then walks the folder's path once, not on every
/// system call. `O_NOFOLLOW` refuses a symlink planted in its place since the plan.
pub struct Folder {
    path: PathBuf,
    fd: OwnedFd,
}

/// A partial file being written, and whether its mode still needs setting.
pub struct Part {
    file: File,
    chmod: bool,
}

impl Part {
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Folder {
    pub fn open(path: &Path) -> Result<Folder, TransferError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())
            .map_err(|e| disk(format!("opening {}", path.display()), e.into()))?;
        Ok(Folder {
            path: path.to_owned(),
            fd,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `name` (a partial file) to continue at `offset` (0: start afresh), never
    /// through a symlink. A `fresh` file (none was there at the plan) is created with
    /// its final permissions, so that finishing it needs no `fchmod` when the umask
    /// leaves them alone; owner read and write are kept until then, for resuming.
    pub fn open_part(
        &self,
        name: &OsStr,
        offset: u64,
        mode: u32,
        fresh: bool,
    ) -> Result<Part, TransferError> {
        let fail = |e: io::Error| disk(format!("opening {}", self.path.join(name).display()), e);
        let base = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let wanted = mode & 0o777;
        if fresh && offset == 0 {
            let created = wanted | 0o600;
            match rustix::fs::openat(
                &self.fd,
                name,
                base | OFlags::EXCL,
                Mode::from_raw_mode(created),
            ) {
                Ok(fd) => {
                    let chmod = umask().is_none_or(|u| created & !u != wanted);
                    return Ok(Part {
                        file: File::from(fd),
                        chmod,
                    });
                }
                // Created since the plan: open it as any existing partial file.
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(fail(e.into())),
            }
        }
        let flags = if offset == 0 {
            base | OFlags::TRUNC
        } else {
            base
        };
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| fail(e.into()))?;
        let mut file = File::from(fd);
        if offset > 0 {
            file.set_len(offset).map_err(fail)?;
            file.seek(SeekFrom::Start(offset)).map_err(fail)?;
        }
        Ok(Part { file, chmod: true })
    }

    /// Gives a verified partial file its mode and time and renames it to `dest` (or, with
    /// `Existing::Rename`, the first free `dest (N)`); returns the final path.
    pub fn finish(
        &self,
        part: Part,
        part_name: &OsStr,
        dest: &OsStr,
        mode: u32,
        mtime: Option<SystemTime>,
        policy: Existing,
    ) -> Result<PathBuf, TransferError> {
        let part_path = self.path.join(part_name);
        let fail = |what: &str, e| disk(format!("{what} {}", part_path.display()), e);
        if part.chmod {
            part.file
                .set_permissions(fs::Permissions::from_mode(mode & 0o777))
                .map_err(|e| fail("setting the mode of", e))?;
        }
        if let Some(t) = mtime {
            part.file
                .set_modified(t)
                .map_err(|e| fail("setting the time of", e))?;
        }
        // No fsync per file (as with cp, tar and rsync): on a disk, 10,000 small files
        // would cost 10,000 flushes. A power cut may leave the newest files empty; a
        // later run sees the wrong size and refuses or resends them, as for any conflict.
        drop(part);
        let dest = match policy {
            Existing::Rename => free_name(&self.path.join(dest)),
            _ => self.path.join(dest),
        };
        let name = dest.file_name().expect("a file name");
        rustix::fs::renameat(&self.fd, part_name, &self.fd, name).map_err(|e| {
            disk(
                format!("renaming {} to {}", part_path.display(), dest.display()),
                e.into(),
            )
        })?;
        Ok(dest)
    }
}

/// The process's umask, read once (from /proc: `umask(2)` can only read it by
/// changing it, which would race with other threads creating files).
fn umask() -> Option<u32> {
    static UMASK: OnceLock<Option<u32>> = OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// Hashes an existing regular file (a partial file's prefix or a finished file).
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

/// Gives a folder its mode and time once its contents are written.
pub fn finish_dir(path: &Path, mode: u32, mtime: Option<SystemTime>) {
    let _ = fs::set_permissions(path, fs::Permissions::from_mode((mode & 0o777) | 0o700));
    if let (Some(t), Ok(dir)) = (mtime, File::open(path)) {
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
    fn a_fresh_part_ends_with_exactly_its_mode_and_time_whatever_the_mode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        let name = OsStr::new("f");
        let part_os = part_name(name);
        let part = part_os.as_os_str();
        let when = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        for mode in [0o644, 0o600, 0o755, 0o400, 0o666, 0o000, 0o777] {
            for fresh in [true, false] {
                let mut p = folder.open_part(part, 0, mode, fresh).unwrap();
                io::Write::write_all(p.file(), b"data").unwrap();
                let dest = folder
                    .finish(p, part, name, mode, Some(when), Existing::Overwrite)
                    .unwrap();
                let m = fs::symlink_metadata(&dest).unwrap();
                assert_eq!(m.permissions().mode() & 0o777, mode, "{mode:o} {fresh}");
                assert_eq!(
                    (m.mtime(), m.mtime_nsec(), m.len()),
                    (1_700_000_000, 123_456_789, 4)
                );
                assert!(!dir.path().join(part).exists());
                fs::remove_file(&dest).unwrap();
            }
        }
        // A partial file that appeared after the plan is truncated and gets its mode anyway.
        fs::write(dir.path().join(part), "stale bytes").unwrap();
        let p = folder.open_part(part, 0, 0o640, true).unwrap();
        let dest = folder
            .finish(p, part, name, 0o640, None, Existing::Overwrite)
            .unwrap();
        let m = fs::symlink_metadata(dest).unwrap();
        assert_eq!((m.permissions().mode() & 0o777, m.len()), (0o640, 0));
    }

    #[test]
    fn a_symlink_under_the_part_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(part_name(OsStr::new("f")))).unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        for fresh in [false, true] {
            assert!(folder
                .open_part(&part_name(OsStr::new("f")), 0, 0o644, fresh)
                .is_err());
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }
}
