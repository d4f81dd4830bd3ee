//! What is already in the receiver's output tree, each folder listed once: planning
//! 10,000 files in a new folder then costs a few `readdir`s instead of three `statx`
//! per file (the final name, its partial file, and every folder on the way).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::files::part_name;
use super::TransferError;

/// Folders of the output tree, listed on first use.
pub struct Survey {
    root: PathBuf,
    /// Names in each folder (by relative path, "" for the root); `None` when the folder
    /// does not exist yet, so nothing beneath it does either.
    folders: HashMap<String, Option<HashSet<OsString>>>,
}

impl Survey {
    pub fn new(root: &Path) -> Survey {
        Survey {
            root: root.to_owned(),
            folders: HashMap::new(),
        }
    }

    /// What is at relative path `rel` (checked by `check_path`) and at its partial file,
    /// without following a symlink there. Every existing folder on the way must be a
    /// real folder, not a symlink or a file: nothing is written through a link.
    pub fn lookup(
        &mut self,
        rel: &str,
    ) -> Result<(Option<fs::Metadata>, Option<fs::Metadata>), TransferError> {
        let (dir, name) = split(rel);
        if !self.list(dir)? {
            return Ok((None, None));
        }
        let names = self.folders[dir].as_ref().expect("listed");
        let part = part_name(OsStr::new(name));
        let (has_dest, has_part) = (names.contains(OsStr::new(name)), names.contains(&part));
        let path = self.root.join(rel);
        let meta = |p: &Path| fs::symlink_metadata(p).ok();
        Ok((
            has_dest.then(|| meta(&path)).flatten(),
            has_part
                .then(|| meta(&super::files::part_path(&path)))
                .flatten(),
        ))
    }

    /// Lists folder `rel` if it exists (and its parents first); false when it does not.
    fn list(&mut self, rel: &str) -> Result<bool, TransferError> {
        if let Some(names) = self.folders.get(rel) {
            return Ok(names.is_some());
        }
        let path = self.root.join(rel);
        let present = if rel.is_empty() {
            true
        } else {
            let (parent, name) = split(rel);
            self.list(parent)?
                && self.folders[parent]
                    .as_ref()
                    .is_some_and(|n| n.contains(OsStr::new(name)))
        };
        let names = if present {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() || rel.is_empty() => Some(read_names(&path)?),
                Ok(_) => {
                    return Err(TransferError::Refused(format!(
                        "{} is in the way: not a folder (or a symlink)",
                        path.display()
                    )))
                }
                // Gone since the parent was listed: treat it as absent.
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(disk(&path, e)),
            }
        } else {
            None
        };
        let found = names.is_some();
        self.folders.insert(rel.to_owned(), names);
        Ok(found)
    }
}

fn read_names(path: &Path) -> Result<HashSet<OsString>, TransferError> {
    let mut names = HashSet::new();
    for entry in fs::read_dir(path).map_err(|e| disk(path, e))? {
        names.insert(entry.map_err(|e| disk(path, e))?.file_name());
    }
    Ok(names)
}

/// `a/b/c` → (`a/b`, `c`); `c` → (``, `c`).
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn disk(path: &Path, io: io::Error) -> TransferError {
    TransferError::Disk {
        what: format!("listing {}", path.display()),
        io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_and_parts_and_nothing_under_missing_folders() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/x"), "1").unwrap();
        fs::write(
            dir.path().join("a/b").join(part_name(OsStr::new("y"))),
            "22",
        )
        .unwrap();
        // A real file named like a browser's partial download is not a partial file.
        fs::write(dir.path().join("a/b/z.part"), "333").unwrap();
        let mut s = Survey::new(dir.path());
        let (x, xp) = s.lookup("a/b/x").unwrap();
        assert_eq!(x.map(|m| m.len()), Some(1));
        assert!(xp.is_none());
        let (y, yp) = s.lookup("a/b/y").unwrap();
        assert!(y.is_none());
        assert_eq!(yp.map(|m| m.len()), Some(2));
        let (z, zp) = s.lookup("a/b/z").unwrap();
        assert!(z.is_none() && zp.is_none());
        let (b, _) = s.lookup("a/b").unwrap();
        assert!(b.unwrap().is_dir());
        let (n, np) = s.lookup("new/deep/z").unwrap();
        assert!(n.is_none() && np.is_none());
    }

    #[test]
    fn a_symlink_or_file_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        fs::write(dir.path().join("file"), "x").unwrap();
        let mut s = Survey::new(dir.path());
        assert!(s.lookup("link/x").is_err());
        assert!(s.lookup("file/x").is_err());
        assert!(s.lookup("link").unwrap().0.unwrap().is_symlink());
    }
}
