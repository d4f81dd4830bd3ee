//! The manifest: what a sender offers (files, directories, links inside the tree), how
//! it is built from local paths, and how a receiver checks every entry from the wire.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::files::PART_PREFIX;
use crate::output::is_deceptive;

/// Most entries a receiver accepts in one manifest.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Longest relative path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Deepest nesting accepted (path components).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One thing to transfer. `path` is relative, `/`-separated, and checked by the
/// receiver with `check_path` before anything touches the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Bytes of a file; `None` for a stream of unknown length (stdin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Permission bits (`0o777` at most are applied).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// The nanoseconds within that second (0 to 999,999,999); absent means 0, so a
    /// manifest from a sender that does not send it still parses.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtime_ns: u32,
    /// A symlink's target, relative to the link's own directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Entry {
    /// The modification time to give the received copy: `mtime` and `mtime_ns`, the
    /// nanoseconds ignored when out of range; `None` before 1970 (not applied).
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        let nanos = if self.mtime_ns < 1_000_000_000 {
            self.mtime_ns
        } else {
            0
        };
        let secs = u64::try_from(self.mtime).ok()?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
    }
}

/// Where the sender reads an entry's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Stdin,
    None,
}

/// A manifest and, entry by entry, where its bytes come from.
#[derive(Debug, Default)]
pub struct Offer {
    pub entries: Vec<Entry>,
    pub sources: Vec<Source>,
    /// Things left out, for the sender to report (sockets, links leaving the tree, …).
    pub skipped: Vec<String>,
    /// The `manifest` messages as JSON, encoded once for every receiver.
    encoded: OnceLock<Vec<Vec<u8>>>,
}

impl Offer {
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().filter_map(|e| e.size).sum()
    }

    pub fn files(&self) -> usize {
        self.entries.iter().filter(|e| e.kind == Kind::File).count()
    }

    /// Builds the offer for `paths` (files and directories, walked in name order).
    pub fn from_paths(paths: &[PathBuf]) -> std::io::Result<Offer> {
        let mut offer = Offer::default();
        let mut names = HashSet::new();
        for path in paths {
            let meta = fs::symlink_metadata(path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let name = top_name(path)?;
            if let Err(why) = check_path(&name) {
                offer.skipped.push(format!("{}: {why}", path.display()));
                continue;
            }
            if !names.insert(name.clone()) {
                return Err(std::io::Error::other(format!(
                    "two paths are both named {name:?}"
                )));
            }
            if meta.is_dir() {
                offer.push(name.clone(), path, &meta);
                offer.walk(path, &name, path)?;
            } else if meta.is_file() {
                offer.push(name, path, &meta);
            } else {
                offer
                    .skipped
                    .push(format!("{}: not a file or directory", path.display()));
            }
        }
        Ok(offer)
    }

    /// A single stream of unknown length, read from stdin.
    pub fn stdin(name: &str) -> Offer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Offer {
            entries: vec![Entry {
                path: name.to_owned(),
                kind: Kind::File,
                size: None,
                mode: 0o644,
                mtime: now.as_secs() as i64,
                mtime_ns: now.subsec_nanos(),
                target: None,
            }],
            sources: vec![Source::Stdin],
            skipped: Vec::new(),
            encoded: OnceLock::new(),
        }
    }

    /// The entries as `manifest` control messages (JSON), each of about
    /// `BATCH_BYTES`: encoded once, in one pass, and sent as they are to each receiver.
    pub fn encoded_manifest(&self) -> &[Vec<u8>] {
        self.encoded.get_or_init(|| {
            let mut out = Vec::new();
            let mut msg = Vec::new();
            for e in &self.entries {
                if msg.is_empty() {
                    msg.extend_from_slice(br#"{"type":"manifest","entries":["#);
                } else {
                    msg.push(b',');
                }
                serde_json::to_writer(&mut msg, e).expect("entries always serialize");
                if msg.len() >= super::BATCH_BYTES {
                    msg.extend_from_slice(b"]}");
                    out.push(std::mem::take(&mut msg));
                }
            }
            if !msg.is_empty() {
                msg.extend_from_slice(b"]}");
                out.push(msg);
            }
            out
        })
    }

    fn push(&mut self, rel: String, path: &Path, meta: &fs::Metadata) {
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        self.entries.push(Entry {
            path: rel,
            kind,
            size: (kind == Kind::File).then_some(meta.len()),
            mode: meta.permissions().mode() & 0o777,
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec() as u32,
            target: None,
        });
        self.sources.push(if kind == Kind::File {
            Source::Path(path.to_owned())
        } else {
            Source::None
        });
    }

    fn walk(&mut self, dir: &Path, rel: &str, root: &Path) -> std::io::Result<()> {
        let mut children: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let path = child.path();
            let Some(name) = child.file_name().to_str().map(str::to_owned) else {
                self.skipped
                    .push(format!("{}: name is not UTF-8", path.display()));
                continue;
            };
            if let Err(why) = check_path(&name) {
                self.skipped.push(format!("{}: {why}", path.display()));
                continue;
            }
            let child_rel = format!("{rel}/{name}");
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                self.push(child_rel.clone(), &path, &meta);
                self.walk(&path, &child_rel, root)?;
            } else if meta.is_file() {
                self.push(child_rel, &path, &meta);
            } else if meta.file_type().is_symlink() {
                match link_inside(&path, root) {
                    Some(target) => self.entries.push(Entry {
                        path: child_rel,
                        kind: Kind::Symlink,
                        size: None,
                        mode: 0o777,
                        mtime: meta.mtime(),
                        mtime_ns: meta.mtime_nsec() as u32,
                        target: Some(target),
                    }),
                    None => {
                        self.skipped.push(format!(
                            "{}: symlink leads outside the folder",
                            path.display()
                        ));
                        continue;
                    }
                }
                self.sources.push(Source::None);
            } else {
                self.skipped
                    .push(format!("{}: not a file, folder or link", path.display()));
            }
        }
        Ok(())
    }
}

/// The name a top-level path is offered under: its last component.
fn top_name(path: &Path) -> std::io::Result<String> {
    let canonical;
    let named = match path.file_name() {
        Some(_) => path,
        None => {
            canonical = fs::canonicalize(path)?;
            &canonical
        }
    };
    named
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| std::io::Error::other(format!("{}: has no UTF-8 file name", path.display())))
}

/// A link's target if, read relative to the link, it stays inside `root`.
fn link_inside(link: &Path, root: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    let target = target.to_str()?.to_owned();
    let rel_dir = link.parent()?.strip_prefix(root).ok()?;
    let depth = rel_dir.components().count();
    check_link_target(&target, depth).ok()?;
    Some(target)
}

/// Why an entry from the wire is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadEntry {
    #[error("empty path")]
    Empty,
    #[error("path of {0} bytes is longer than {MAX_PATH_BYTES}")]
    TooLong(usize),
    #[error("path is absolute")]
    Absolute,
    #[error("path has an empty, '.' or '..' component")]
    DotOrEmpty,
    #[error("path contains a backslash")]
    Backslash,
    #[error("path contains a control character or NUL")]
    Control,
    #[error("path contains U+{:04X}, an invisible or text-direction character that makes a name read as another", u32::from(*.0))]
    Deceptive(char),
    #[error("path has a name beginning with {PART_PREFIX}, which partial files use")]
    Reserved,
    #[error("path is nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("symlink target leaves the transferred folder")]
    LinkEscapes,
    #[error("symlink target has '..' after a name (it could climb out through another link)")]
    LinkClimbsAfterName,
    #[error("symlink has no target")]
    NoTarget,
    #[error("path appears twice")]
    Duplicate,
    #[error("path goes through a symlink or a file of this transfer")]
    ThroughLink,
    #[error("a file has no size")]
    NoSize,
}

/// Checks a relative path from the wire: no absolute paths, no `..`, no backslashes,
/// no NUL or control characters, bounded length and depth. Returns its components.
pub fn check_path(path: &str) -> Result<Vec<&str>, BadEntry> {
    if path.is_empty() {
        return Err(BadEntry::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(BadEntry::TooLong(path.len()));
    }
    if path.starts_with('/') {
        return Err(BadEntry::Absolute);
    }
    if path.contains('\\') {
        return Err(BadEntry::Backslash);
    }
    if path.chars().any(char::is_control) {
        return Err(BadEntry::Control);
    }
    if let Some(c) = path.chars().find(|&c| is_deceptive(c)) {
        return Err(BadEntry::Deceptive(c));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(BadEntry::DotOrEmpty);
    }
    if parts.iter().any(|p| p.starts_with(PART_PREFIX)) {
        return Err(BadEntry::Reserved);
    }
    if parts.len() > MAX_DEPTH {
        return Err(BadEntry::TooDeep);
    }
    Ok(parts)
}

/// Checks a symlink target, read relative to a link `depth` folders below the root:
/// relative, and never climbing above the root.
///
/// `..` may only lead the target: after a name it would be resolved by the kernel from
/// wherever that name leads, and the name may itself be a link (`up -> ..` makes
/// `up/..` the root's parent), so counting levels would no longer be the truth.
pub fn check_link_target(target: &str, depth: usize) -> Result<(), BadEntry> {
    if target.is_empty() || target.len() > MAX_PATH_BYTES || target.chars().any(char::is_control) {
        return Err(BadEntry::LinkEscapes);
    }
    if let Some(c) = target.chars().find(|&c| is_deceptive(c)) {
        return Err(BadEntry::Deceptive(c));
    }
    let mut level = depth as i64;
    let mut named = false;
    for c in Path::new(target).components() {
        match c {
            Component::Normal(_) => {
                level += 1;
                named = true;
            }
            Component::CurDir => {}
            Component::ParentDir if named => return Err(BadEntry::LinkClimbsAfterName),
            Component::ParentDir => level -= 1,
            Component::RootDir | Component::Prefix(_) => return Err(BadEntry::LinkEscapes),
        }
        if level < 0 {
            return Err(BadEntry::LinkEscapes);
        }
    }
    Ok(())
}

/// Checks a whole manifest as a receiver: every path and target, no duplicates, and no
/// entry beneath a symlink or a file of the same manifest.
pub fn check_manifest(entries: &[Entry]) -> Result<(), (String, BadEntry)> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
    let mut not_dirs: HashSet<&str> = HashSet::new();
    for e in entries {
        let fail = |b| (e.path.clone(), b);
        let parts = check_path(&e.path).map_err(fail)?;
        if !seen.insert(&e.path) {
            return Err(fail(BadEntry::Duplicate));
        }
        let mut end = 0;
        for part in &parts[..parts.len() - 1] {
            end += part.len();
            if not_dirs.contains(&e.path[..end]) {
                return Err(fail(BadEntry::ThroughLink));
            }
            end += 1;
        }
        match e.kind {
            Kind::Symlink => {
                let target = e
                    .target
                    .as_deref()
                    .ok_or(BadEntry::NoTarget)
                    .map_err(fail)?;
                check_link_target(target, parts.len() - 1).map_err(fail)?;
                not_dirs.insert(&e.path);
            }
            Kind::File => {
                not_dirs.insert(&e.path);
            }
            Kind::Dir => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
