//! Maps a request's URL path to a file under the served folder, and refuses every way
//! out of it: `..`, encoded slashes and dots, backslashes, NUL, and symlinks that lead
//! outside (unless `--follow-symlinks`, and never for writes). Dotfiles are not found
//! unless `--hidden`.
//!
//! Checks run before each file operation; a symlink swapped in between by someone who
//! can already write inside the folder is outside this model.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("bad path: {0}")]
    Bad(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
}

impl PathError {
    pub fn status(&self) -> u16 {
        match self {
            PathError::Bad(_) => 400,
            PathError::Forbidden(_) => 403,
            PathError::NotFound => 404,
        }
    }
}

/// The served folder and the rules for reaching into it.
#[derive(Debug, Clone)]
pub struct Root {
    /// Canonical: symlinks in the folder's own path are resolved once, at start.
    dir: PathBuf,
    /// The folder opened once (`O_PATH`), for `open_plain`.
    handle: Arc<OwnedFd>,
    pub hidden: bool,
    pub follow_symlinks: bool,
}

impl Root {
    pub fn new(dir: &Path, hidden: bool, follow_symlinks: bool) -> io::Result<Root> {
        let dir = dir.canonicalize()?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a directory",
            ));
        }
        let handle = rustix::fs::open(
            &dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            dir,
            handle: Arc::new(handle),
            hidden,
            follow_symlinks,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The decoded segments of a URL path (query already removed).
    pub fn segments(&self, url_path: &str) -> Result<Vec<Vec<u8>>, PathError> {
        if !url_path.starts_with('/') {
            return Err(PathError::Bad("path must start with /"));
        }
        let lower = url_path.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err(PathError::Bad("encoded slash"));
        }
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(url_path).collect();
        if decoded.contains(&0) {
            return Err(PathError::Bad("NUL byte"));
        }
        if decoded.contains(&b'\\') {
            return Err(PathError::Bad("backslash"));
        }
        let mut segments = Vec::new();
        for seg in decoded.split(|&b| b == b'/') {
            match seg {
                b"" | b"." => {}
                b".." => return Err(PathError::Forbidden("'..' in path")),
                // Upload temporaries are never reached by any request, whatever the flags.
                s if s.starts_with(b".") && (!self.hidden || is_temporary(s)) => {
                    return Err(PathError::NotFound)
                }
                s => segments.push(s.to_vec()),
            }
        }
        Ok(segments)
    }

    fn join(&self, segments: &[Vec<u8>]) -> PathBuf {
        let mut path = self.dir.clone();
        for s in segments {
            path.push(OsStr::from_bytes(s));
        }
        path
    }

    /// Whether `canonical` lies in the folder and, unless `--hidden`, has no dotted
    /// component (a symlink named `notes` to `.secret` is hidden too).
    fn admits(&self, canonical: &Path) -> Result<(), PathError> {
        let Ok(rel) = canonical.strip_prefix(&self.dir) else {
            return Err(PathError::Forbidden("outside the served folder"));
        };
        if !self.hidden && rel.components().any(is_hidden) {
            return Err(PathError::NotFound);
        }
        if rel
            .components()
            .any(|c| matches!(c, Component::Normal(s) if is_temporary(s.as_bytes())))
        {
            return Err(PathError::NotFound);
        }
        Ok(())
    }

    /// An existing file or folder to read.
    pub fn read(&self, url_path: &str) -> Result<PathBuf, PathError> {
        self.find(url_path).map(|(path, _)| path)
    }

    /// An existing file or folder to read, and whether it is a folder. Anything else
    /// (a FIFO, a socket, a device) is `NotFound`: opening one could block a thread
    /// forever or read a device, and no file server means to serve them.
    ///
    /// Walks down from the folder with one `lstat` per segment: without a symlink on the
    /// way the joined path is already canonical (segments hold no `.`, `..` or `/`).
    /// Only a symlink sends it to `canonicalize`, which costs a `readlink` per component
    /// of the whole path on every request.
    pub fn find(&self, url_path: &str) -> Result<(PathBuf, bool), PathError> {
        let segments = self.segments(url_path)?;
        let mut path = self.dir.clone();
        let mut is_dir = true;
        for s in &segments {
            path.push(OsStr::from_bytes(s));
            let meta = path.symlink_metadata().map_err(|_| PathError::NotFound)?;
            if meta.file_type().is_symlink() {
                return self.resolve(&self.join(&segments));
            }
            if !meta.is_dir() && !meta.is_file() {
                return Err(PathError::NotFound);
            }
            is_dir = meta.is_dir();
        }
        Ok((path, is_dir))
    }

    /// The common case in one system call: `url_path` opened for reading when no symlink
    /// lies on the way, with `openat2` refusing symlinks and `..` in the kernel (the
    /// same rules `find` checks). `Ok(None)` when that cannot decide — a symlink, a
    /// missing file, a kernel without `openat2` — and `find` must.
    ///
    /// `O_NONBLOCK` so that a FIFO in the folder cannot hold the open; it does not
    /// change reads from regular files.
    pub fn open_plain(&self, url_path: &str) -> Result<Option<(PathBuf, File)>, PathError> {
        let segments = self.segments(url_path)?;
        let mut rel = PathBuf::from(".");
        for s in &segments {
            rel.push(OsStr::from_bytes(s));
        }
        let opened = rustix::fs::openat2(
            self.handle.as_ref(),
            &rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        );
        Ok(opened.ok().map(|fd| (self.join(&segments), File::from(fd))))
    }

    fn resolve(&self, path: &Path) -> Result<(PathBuf, bool), PathError> {
        let canonical = path.canonicalize().map_err(|_| PathError::NotFound)?;
        match self.admits(&canonical) {
            Err(PathError::Forbidden(_)) if self.follow_symlinks => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let meta = canonical.metadata().map_err(|_| PathError::NotFound)?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(PathError::NotFound);
        }
        Ok((canonical, meta.is_dir()))
    }

    /// An entry of a folder being listed or archived, if it may be shown and served: the
    /// same rules as `find` for one name. `dir` is where the entry was read from, a
    /// canonical path (as `find` or an earlier `child` gives); only a symlink can then
    /// lead elsewhere, and it is resolved and judged where it leads. `None` for a
    /// dotfile (unless `--hidden`), an upload's temporary, a symlink out of the folder
    /// (unless `--follow-symlinks`), a broken one, and anything not a file or folder.
    pub fn child(&self, item: &std::fs::DirEntry) -> Option<Child> {
        let name = item.file_name().as_bytes().to_vec();
        if name.starts_with(b".") && (!self.hidden || is_temporary(&name)) {
            return None;
        }
        let is_link = item.file_type().map_or(true, |t| t.is_symlink());
        let path = if is_link {
            item.path().canonicalize().ok()?
        } else {
            item.path()
        };
        match self.admits(&path) {
            Err(PathError::Forbidden(_)) if self.follow_symlinks => {}
            Err(_) => return None,
            Ok(()) => {}
        }
        let meta = std::fs::metadata(&path).ok()?;
        // FIFOs, sockets and devices are never served (`find`): never listed either.
        if !meta.is_dir() && !meta.is_file() {
            return None;
        }
        Some(Child { name, path, meta })
    }

    /// A path to create or replace: never through a symlink, never outside the folder
    /// (whatever `--follow-symlinks` says), never the folder itself.
    pub fn write(&self, url_path: &str) -> Result<PathBuf, PathError> {
        let segments = self.segments(url_path)?;
        if segments.is_empty() {
            return Err(PathError::Forbidden("the served folder itself"));
        }
        let path = self.join(&segments);
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(PathError::Forbidden("a symlink"));
        }
        let mut ancestor = path.parent();
        while let Some(dir) = ancestor {
            if let Ok(canonical) = dir.canonicalize() {
                self.admits(&canonical)?;
                return Ok(path);
            }
            if dir.symlink_metadata().is_ok() {
                // Exists but cannot be resolved: a dangling symlink on the way.
                return Err(PathError::Forbidden("a broken symlink on the path"));
            }
            ancestor = dir.parent();
        }
        Err(PathError::Forbidden("outside the served folder"))
    }

    /// An existing entry to delete (a symlink itself, not its target).
    pub fn delete(&self, url_path: &str) -> Result<PathBuf, PathError> {
        let path = self.write(url_path).or_else(|e| match e {
            // Deleting a symlink removes the link, which is inside the folder.
            PathError::Forbidden("a symlink") => {
                let path = self.join(&self.segments(url_path)?);
                let parent = path.parent().ok_or(PathError::NotFound)?;
                self.admits(&parent.canonicalize().map_err(|_| PathError::NotFound)?)?;
                Ok(path)
            }
            e => Err(e),
        })?;
        path.symlink_metadata().map_err(|_| PathError::NotFound)?;
        Ok(path)
    }
}

/// A folder's entry that `Root::child` admits.
#[derive(Debug)]
pub struct Child {
    /// Its name in the folder, as the file system has it.
    pub name: Vec<u8>,
    /// Where its contents are read: the symlink's target, canonical, for a symlink.
    pub path: PathBuf,
    /// What `path` is (a symlink followed).
    pub meta: std::fs::Metadata,
}

/// The prefix of the temporary files uploads write into (`upload::Part`): such names are
/// never listed, served, replaced or deleted by a request.
pub const TEMPORARY_PREFIX: &str = ".sockit-upload-";

/// Whether a name is an upload's temporary file.
pub fn is_temporary(name: &[u8]) -> bool {
    name.starts_with(TEMPORARY_PREFIX.as_bytes())
}

fn is_hidden(c: Component<'_>) -> bool {
    matches!(c, Component::Normal(s) if s.as_bytes().starts_with(b"."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root(hidden: bool, follow: bool) -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let served = t.path().join("served");
        fs::create_dir_all(served.join("sub")).unwrap();
        fs::write(served.join("a.txt"), "a").unwrap();
        fs::write(served.join(".secret"), "s").unwrap();
        fs::write(t.path().join("outside.txt"), "o").unwrap();
        std::os::unix::fs::symlink(t.path().join("outside.txt"), served.join("escape")).unwrap();
        std::os::unix::fs::symlink(t.path(), served.join("updir")).unwrap();
        std::os::unix::fs::symlink("a.txt", served.join("inside")).unwrap();
        std::os::unix::fs::symlink(".secret", served.join("looks-plain")).unwrap();
        let r = Root::new(&served, hidden, follow).unwrap();
        (t, r)
    }

    #[test]
    fn open_plain_opens_only_what_needs_no_symlink() {
        let (_t, r) = root(false, false);
        let (path, _) = r.open_plain("/a.txt").unwrap().unwrap();
        assert_eq!(path, r.dir().join("a.txt"));
        assert!(r.open_plain("/sub/").unwrap().is_some());
        for link in [
            "/escape",
            "/updir/outside.txt",
            "/inside",
            "/looks-plain",
            "/nope",
        ] {
            assert!(r.open_plain(link).unwrap().is_none(), "{link}");
        }
        assert_eq!(r.open_plain("/.secret").unwrap_err(), PathError::NotFound);
        assert_eq!(
            r.open_plain("/%2e%2e/outside.txt").unwrap_err().status(),
            403
        );
    }

    #[test]
    fn traversal_attempts_never_leave_the_folder() {
        let (_t, r) = root(false, false);
        let attempts = [
            ("/../outside.txt", 403),
            ("/sub/../../outside.txt", 403),
            ("/%2e%2e/outside.txt", 403),
            ("/%2E%2E/outside.txt", 403),
            ("/..%2foutside.txt", 400),
            ("/..%2Foutside.txt", 400),
            ("/..%5coutside.txt", 400),
            ("/..\\outside.txt", 400),
            ("/a.txt%00.png", 400),
            ("/escape", 403),
            ("/updir/outside.txt", 403),
            ("/.secret", 404),
            ("/%2esecret", 404),
            ("/looks-plain", 404),
            ("/missing", 404),
            ("relative", 400),
        ];
        for (path, status) in attempts {
            let got = r.read(path).map(|_| 200).unwrap_or_else(|e| e.status());
            assert_eq!(got, status, "{path}");
        }
        assert!(r.read("/a.txt").is_ok());
        assert!(
            r.read("//a.txt").is_ok(),
            "an absolute-looking path stays inside"
        );
        assert!(
            r.read("/inside").is_ok(),
            "a symlink inside the folder is fine"
        );
        assert!(r.read("/sub/./").is_ok());
    }

    #[test]
    fn special_files_are_never_found_under_any_flags() {
        for (hidden, follow) in [(false, false), (true, true)] {
            let (t, r) = root(hidden, follow);
            let fifo =
                std::ffi::CString::new(t.path().join("served/fifo").to_str().unwrap()).unwrap();
            // SAFETY: mkfifo(3) on a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
            std::os::unix::fs::symlink("fifo", t.path().join("served/to-fifo")).unwrap();
            std::os::unix::fs::symlink("/dev/null", t.path().join("served/null")).unwrap();
            for path in ["/fifo", "/to-fifo", "/null"] {
                assert!(r.find(path).is_err(), "{path} ({hidden}, {follow})");
            }
        }
    }

    #[test]
    fn flags_open_what_they_say() {
        let (_t, r) = root(true, true);
        assert!(r.read("/.secret").is_ok());
        assert!(r.read("/escape").is_ok());
        assert_eq!(r.read("/../outside.txt").unwrap_err().status(), 403);
        assert_eq!(
            r.write("/updir/new.txt").unwrap_err().status(),
            403,
            "writes never follow out"
        );
    }

    #[test]
    fn writes_stay_inside_and_never_through_symlinks() {
        let (_t, r) = root(false, false);
        assert!(r.write("/new/deep/file.txt").is_ok());
        assert!(r.write("/a.txt").is_ok());
        for (path, status) in [
            ("/", 403),
            ("/escape", 403),
            ("/updir/x", 403),
            ("/updir/new/x", 403),
            ("/../x", 403),
            ("/.x", 404),
        ] {
            assert_eq!(r.write(path).unwrap_err().status(), status, "{path}");
        }
        assert!(r.delete("/escape").is_ok(), "the link itself may go");
        assert_eq!(r.delete("/nothing").unwrap_err().status(), 404);
        assert_eq!(r.delete("/").unwrap_err().status(), 403);
    }
}
