//! `http serve`'s path resolution, against a real folder with symlink, hardlink and
//! dotfile traps, under every flag combination: what `find` resolves to, and what
//! `open_plain` really opened (read back through `/proc/self/fd`), is inside the served
//! folder (or, with `--follow-symlinks`, reached through a symlink), and has no dotted
//! component unless `--hidden`.

use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use sockit::http::safepath::Root;

struct Fixture {
    _tmp: tempfile::TempDir,
    served: PathBuf,
    /// (hidden, follow_symlinks) → root.
    roots: Vec<((bool, bool), Root)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        use std::fs;
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let served = base.join("served");
        fs::create_dir_all(served.join("sub/.hid")).unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        fs::write(base.join("outside/secret.txt"), "secret").unwrap();
        fs::write(base.join("outside/hard.txt"), "hard").unwrap();
        fs::write(served.join("a.txt"), "a").unwrap();
        fs::write(served.join(".secret"), "s").unwrap();
        fs::write(served.join("sub/b.txt"), "b").unwrap();
        fs::write(served.join("sub/.hid/c.txt"), "c").unwrap();
        fs::hard_link(base.join("outside/hard.txt"), served.join("hard")).unwrap();
        symlink("../outside/secret.txt", served.join("link-out")).unwrap();
        symlink("..", served.join("link-up")).unwrap();
        symlink(".secret", served.join("link-dot")).unwrap();
        symlink("a.txt", served.join("link-in")).unwrap();
        symlink("sub", served.join("link-sub")).unwrap();
        symlink("sub/.hid", served.join("link-hid")).unwrap();
        symlink("/", served.join("link-root")).unwrap();
        let roots = [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(hidden, follow)| {
                let root = Root::new(&served, hidden, follow).unwrap();
                ((hidden, follow), root)
            })
            .collect();
        Fixture {
            _tmp: tmp,
            served,
            roots,
        }
    })
}

const SEGMENTS: &[&str] = &[
    "a.txt",
    ".secret",
    "sub",
    "b.txt",
    ".hid",
    "c.txt",
    "hard",
    "link-out",
    "link-up",
    "link-dot",
    "link-in",
    "link-sub",
    "link-hid",
    "link-root",
    "outside",
    "secret.txt",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2e",
    "%2f",
    "%2F..",
    "..%2f",
    "%00",
    "a.txt%00",
    "%2e",
    ".%2e",
    "etc",
    "passwd",
    "%5c..",
    "\\..",
];

pub fn check(data: &[u8]) -> Result<()> {
    let f = fixture();
    let mut u = Unstructured::new(data);
    let mut path = String::new();
    for _ in 0..u.int_in_range(0..=6)? {
        path.push('/');
        if u.ratio(1, 10)? {
            let n = u.int_in_range(0..=8)?;
            path.push_str(&String::from_utf8_lossy(u.bytes(n)?));
        } else {
            path.push_str(u.choose(SEGMENTS)?);
        }
    }
    if path.is_empty() || u.ratio(1, 4)? {
        path.push('/');
    }
    for ((hidden, follow), root) in &f.roots {
        let flags = format!("{path:?} hidden={hidden} follow={follow}");
        if let Ok((found, _)) = root.find(&path) {
            let real = found.canonicalize().expect("found paths exist");
            check_place(&f.served, &real, *hidden, *follow, &flags);
        }
        if let Ok(Some((_, file))) = root.open_plain(&path) {
            let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
            let opened = std::fs::read_link(fd).unwrap();
            // open_plain never follows a symlink, whatever the flags.
            check_place(&f.served, &opened, *hidden, false, &flags);
        }
    }
    Ok(())
}

fn check_place(served: &Path, real: &Path, hidden: bool, follow: bool, flags: &str) {
    match real.strip_prefix(served) {
        Ok(rel) => {
            let dotted = rel.components().any(|c| match c {
                Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
                _ => true,
            });
            assert!(
                hidden || !dotted,
                "{flags}: reached hidden {}",
                real.display()
            );
        }
        Err(_) => assert!(follow, "{flags}: escaped to {}", real.display()),
    }
}
