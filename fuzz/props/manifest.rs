//! The receiver's manifest check (`sockit::transfer::check_manifest`): manifests built
//! from hostile path components and link targets. Whatever it accepts is then made for
//! real in a fresh folder, entry by entry in order, the way the kernel resolves paths
//! (through every link already made); before each step the place it would touch is
//! resolved, and it must be inside the folder, as must every link's destination.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use arbitrary::{Result, Unstructured};
use sockit::transfer::{check_manifest, Entry, Kind};

/// Path components an attacker would try, besides arbitrary text.
const PARTS: &[&str] = &[
    "a",
    "b",
    "c",
    "..",
    ".",
    "",
    "...",
    "a b",
    "up",
    "link",
    "/",
    "\\",
    "\0",
    "\n",
    "\u{202e}gpj.exe",
    "~",
    "-rf",
    "a.part",
    "CON",
    "é",
    "e\u{301}",
];
/// Link targets an attacker would try.
const TARGETS: &[&str] = &[
    "..",
    "../..",
    ".",
    "/",
    "/etc/passwd",
    "a",
    "b/c",
    "../a",
    "./..",
    "a/..",
    "a/../..",
    "up/..",
    "link/../..",
    "",
    "//",
    "c/./../..",
    "../../../../../../../tmp",
];

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let count = u.int_in_range(1..=8)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = *u.choose(&[Kind::File, Kind::Dir, Kind::Symlink])?;
        entries.push(Entry {
            path: path(&mut u, PARTS)?,
            kind,
            size: (kind == Kind::File).then_some(0),
            mode: 0o644,
            mtime: 0,
            mtime_ns: 0,
            target: if kind == Kind::Symlink {
                Some(path(&mut u, TARGETS)?)
            } else {
                None
            },
        });
    }
    if check_manifest(&entries).is_err() {
        return Ok(());
    }
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let root = tmp.path().canonicalize().unwrap().join("out");
    fs::create_dir(&root).unwrap();
    for e in &entries {
        let at = root.join(&e.path);
        let parent = at.parent().expect("below the root");
        // A file is written through a link in its place; a folder or link is not made
        // through one, but must not be made beside the root either.
        let place = resolve(&at).unwrap_or_else(|| root.clone());
        assert!(
            place.starts_with(&root),
            "{:?} would be made in {} (manifest {entries:?})",
            e.path,
            place.display()
        );
        if fs::create_dir_all(parent).is_err() {
            continue;
        }
        let _ = match e.kind {
            Kind::Dir => fs::create_dir(&at),
            Kind::File => fs::write(&at, b""),
            Kind::Symlink => symlink(e.target.as_deref().unwrap(), &at),
        };
        if e.kind == Kind::Symlink {
            let leads = resolve(&at).unwrap_or_else(|| root.clone());
            assert!(
                leads.starts_with(&root),
                "{:?} -> {:?} leads to {} (manifest {entries:?})",
                e.path,
                e.target,
                leads.display()
            );
        }
    }
    Ok(())
}

/// One to four components from `pool` (or arbitrary text), joined with `/`, perhaps
/// with a leading `/`.
fn path(u: &mut Unstructured, pool: &[&str]) -> Result<String> {
    let mut parts = Vec::new();
    for _ in 0..u.int_in_range(1..=4)? {
        parts.push(if u.ratio(1, 8)? {
            let s: String = u.arbitrary()?;
            s.chars().take(20).collect()
        } else {
            (*u.choose(pool)?).to_owned()
        });
    }
    let joined = parts.join("/");
    Ok(if u.ratio(1, 16)? {
        format!("/{joined}")
    } else {
        joined
    })
}

/// Where `path` leads, as the kernel would walk it: every existing component through
/// its link, the missing rest taken as written; `None` where the kernel would give up
/// with `ELOOP` (more than 40 links), which leads nowhere.
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut at = PathBuf::from("/");
    let mut todo: Vec<PathBuf> = vec![path.to_owned()];
    let mut links = 0;
    while let Some(next) = todo.pop() {
        let mut comps: Vec<Component> = next.components().collect();
        comps.reverse();
        while let Some(c) = comps.pop() {
            match c {
                Component::RootDir => at = PathBuf::from("/"),
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    at.pop();
                }
                Component::Normal(name) => {
                    let candidate = at.join(name);
                    match fs::read_link(&candidate) {
                        Ok(_) if links == 40 => return None,
                        Ok(target) => {
                            links += 1;
                            // The rest of this path waits until the link is walked.
                            let rest: PathBuf = comps.iter().rev().collect();
                            todo.push(rest);
                            todo.push(target);
                            break;
                        }
                        _ => at = candidate,
                    }
                }
            }
        }
    }
    Some(at)
}
