//! The entries of a folder download (`archive`), in the order they are archived: the
//! rules of a listing (`Root::child`) applied all the way down, within limits.
//!
//! A symlink the rules admit is archived as what it leads to, as a request for its URL
//! would be answered: a file's bytes, a folder's contents. A symlink to a folder it
//! lies in (a loop) is left out, so a walk always ends.

use std::ffi::OsString;
use std::fs::{self, DirEntry, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use thiserror::Error;

use super::safepath::Root;

/// Folder entries one archive may look at (dotfiles and what the rules leave out
/// included, as for a listing): this bounds the time one download spends walking, and
/// its memory — a folder's names are held while its entries are archived, and a zip's
/// central directory keeps each entry until its end (figures: `archive::MAX_ARCHIVES`).
pub const MAX_ENTRIES: usize = 100_000;

/// Folders one archive may nest below the one asked for: this bounds the folders held
/// open at once (one descriptor each), and the length of the names.
pub const MAX_DEPTH: usize = 64;

/// Why a folder cannot be archived.
#[derive(Debug, Error)]
pub enum WalkError {
    #[error("the folder holds more than {MAX_ENTRIES} entries, the most one archive may look at")]
    TooMany,
    #[error(
        "the folder has folders nested more than {MAX_DEPTH} deep, the most one archive may go"
    )]
    TooDeep,
    /// The folder asked for cannot be read at all.
    #[error("{0}")]
    Unreadable(io::Error),
}

/// One entry of the archive.
#[derive(Debug)]
pub struct Item {
    /// Its name in the archive: `folder/sub/name`, a folder's ending in `/`. Relative,
    /// with no `.` or `..` (a name read from a folder never is one).
    pub name: Vec<u8>,
    /// Where it is read (a symlink's target, for a symlink).
    pub path: PathBuf,
    /// What `path` was when the walk came to it.
    pub meta: Metadata,
}

impl Item {
    /// The name as text: non-UTF-8 bytes become U+FFFD (zip names are text).
    pub fn text_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Entries left out because they could not be read, for the one warning said at the end.
#[derive(Debug, Default)]
pub struct LeftOut {
    pub count: usize,
    /// The first one and why.
    pub first: Option<String>,
}

impl LeftOut {
    pub fn note(&mut self, name: &[u8], why: impl std::fmt::Display) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(format!("{}: {why}", String::from_utf8_lossy(name)));
        }
    }
}

/// A folder being walked.
struct Folder {
    /// Its name in the archive, ending in `/`.
    name: Vec<u8>,
    /// Its device and inode, to recognise a loop.
    id: (u64, u64),
    /// Its entries still to come, the next one last.
    entries: Vec<DirEntry>,
}

/// The walk: depth first, each folder's entries sorted by name, the folder itself
/// before them.
pub struct Walk {
    root: Root,
    /// The folder asked for, until it is yielded.
    top: Option<Item>,
    /// The folders being walked, innermost last.
    open: Vec<Folder>,
    /// Folder entries read so far (`MAX_ENTRIES`).
    looked: usize,
    /// A limit was passed: the walk has ended in an error.
    done: bool,
    pub left_out: LeftOut,
}

impl Walk {
    /// The walk of `dir` (canonical, as `Root::find` gives), named `name` in the archive.
    pub fn new(root: &Root, dir: PathBuf, name: &[u8]) -> Result<Walk, WalkError> {
        let meta = fs::metadata(&dir).map_err(WalkError::Unreadable)?;
        // Checked here so that a folder that cannot be read is an error status, not
        // an empty archive.
        fs::read_dir(&dir).map_err(WalkError::Unreadable)?;
        let mut name = name.to_vec();
        name.push(b'/');
        Ok(Walk {
            root: root.clone(),
            top: Some(Item {
                name,
                path: dir,
                meta,
            }),
            open: Vec::new(),
            looked: 0,
            done: false,
            left_out: LeftOut::default(),
        })
    }

    /// Counts the entries, which checks the limits without reading a file.
    pub fn count(mut self) -> Result<usize, WalkError> {
        self.try_fold(0, |n, item| item.map(|_| n + 1))
    }

    /// `item`, a folder, after its entries are read for the steps that follow.
    fn enter(&mut self, item: Item) -> Result<Item, WalkError> {
        if self.open.len() > MAX_DEPTH {
            return Err(WalkError::TooDeep);
        }
        let mut entries = Vec::new();
        match fs::read_dir(&item.path) {
            Ok(read) => {
                for entry in read {
                    self.looked += 1;
                    if self.looked > MAX_ENTRIES {
                        return Err(WalkError::TooMany);
                    }
                    match entry {
                        Ok(entry) => entries.push(entry),
                        Err(e) => self.left_out.note(&item.name, e),
                    }
                }
            }
            Err(e) => self.left_out.note(&item.name, e),
        }
        entries.sort_by_cached_key(|e| std::cmp::Reverse(e.file_name()));
        self.open.push(Folder {
            name: item.name.clone(),
            id: (item.meta.dev(), item.meta.ino()),
            entries,
        });
        Ok(item)
    }

    /// The next entry the rules admit, or `None` when every folder is done.
    fn step(&mut self) -> Option<Result<Item, WalkError>> {
        if let Some(top) = self.top.take() {
            return Some(self.enter(top));
        }
        loop {
            let folder = self.open.last_mut()?;
            let Some(entry) = folder.entries.pop() else {
                self.open.pop();
                continue;
            };
            let Some(child) = self.root.child(&entry) else {
                continue;
            };
            let mut name = folder.name.clone();
            name.extend_from_slice(&child.name);
            let item = Item {
                name,
                path: child.path,
                meta: child.meta,
            };
            if !item.meta.is_dir() {
                return Some(Ok(item));
            }
            let id = (item.meta.dev(), item.meta.ino());
            if self.open.iter().any(|f| f.id == id) {
                continue;
            }
            let mut item = item;
            item.name.push(b'/');
            return Some(self.enter(item));
        }
    }
}

impl Iterator for Walk {
    type Item = Result<Item, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.step();
        self.done = matches!(next, Some(Err(_)));
        next
    }
}

/// The name a folder's archive is given: the URL's last segment, or the served folder's
/// name for `/`.
pub fn folder_name(root: &Root, segments: &[Vec<u8>]) -> Vec<u8> {
    match segments.last() {
        Some(last) => last.clone(),
        None => root
            .dir()
            .file_name()
            .map(OsString::from)
            .map_or_else(|| b"files".to_vec(), |n| n.into_encoded_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(walk: Walk) -> Vec<String> {
        walk.map(|i| i.unwrap().text_name()).collect()
    }

    #[test]
    fn walks_depth_first_in_name_order_with_the_rules_of_a_listing() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir_all(d.join("b/c")).unwrap();
        fs::create_dir_all(d.join(".git")).unwrap();
        fs::write(d.join("a.txt"), "a").unwrap();
        fs::write(d.join("b/c/x"), "x").unwrap();
        fs::write(d.join(".env"), "s").unwrap();
        fs::write(t.path().join("out.txt"), "o").unwrap();
        symlink(t.path().join("out.txt"), d.join("escape")).unwrap();
        symlink("a.txt", d.join("z-link")).unwrap();
        // A loop: a link to the folder it lies in.
        symlink(&d, d.join("b/up")).unwrap();
        let root = Root::new(&d, false, false).unwrap();
        let walk = Walk::new(&root, root.dir().to_owned(), b"d").unwrap();
        assert_eq!(
            names(walk),
            ["d/", "d/a.txt", "d/b/", "d/b/c/", "d/b/c/x", "d/z-link"]
        );
        let root = Root::new(&d, true, true).unwrap();
        let walk = Walk::new(&root, root.dir().to_owned(), b"d").unwrap();
        let all = names(walk);
        for name in ["d/.env", "d/.git/", "d/escape"] {
            assert!(all.contains(&name.to_owned()), "{name} in {all:?}");
        }
    }

    #[test]
    fn limits_end_the_walk_with_an_error() {
        let t = tempfile::tempdir().unwrap();
        let mut deep = t.path().to_owned();
        for _ in 0..=MAX_DEPTH + 1 {
            deep.push("d");
        }
        fs::create_dir_all(&deep).unwrap();
        let root = Root::new(t.path(), false, false).unwrap();
        let walk = Walk::new(&root, root.dir().to_owned(), b"t").unwrap();
        assert!(matches!(walk.count(), Err(WalkError::TooDeep)));
        let mut one_less = t.path().to_owned();
        for _ in 0..MAX_DEPTH {
            one_less.push("d");
        }
        fs::remove_dir_all(one_less.join("d")).unwrap();
        let walk = Walk::new(&root, root.dir().to_owned(), b"t").unwrap();
        assert_eq!(walk.count().unwrap(), MAX_DEPTH + 1);
    }
}
