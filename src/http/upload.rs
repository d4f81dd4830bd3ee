//! Uploads (`--upload`): `PUT /path` and the listing page's multipart form. Both stream
//! into a temporary file in the target folder and rename it when complete, so a reader
//! never sees half a file and an aborted upload leaves nothing behind: neither the file
//! nor the folders the upload created.
//!
//! Temporaries are named `.sockit-upload-<128 random bits>.part` and created with
//! `O_EXCL`; no request can list, read, replace or delete such a name, whatever the
//! flags (`safepath::is_temporary`).

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, BodyStream};
use hyper::body::{Body as _, Incoming};
use tokio::io::AsyncWriteExt;

use super::safepath::{is_temporary, TEMPORARY_PREFIX};
use super::serve::{empty, typed, with_header, Body, Failure, State};
use super::slow::{BodyClock, Slot};

/// The folders an upload created for its file: removed on drop (deepest first, and only
/// those still empty) unless `keep` says the upload succeeded.
struct Folders(Vec<PathBuf>);

impl Folders {
    /// Creates `dir` and any missing parents, remembering which it created.
    async fn create(dir: &Path) -> Result<Folders, Failure> {
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at {
            match tokio::fs::symlink_metadata(d).await {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d.to_path_buf()),
                Err(e) => return Err(Failure::io(e)),
            }
            at = d.parent();
        }
        let mut made = Folders(Vec::with_capacity(missing.len()));
        for d in missing.into_iter().rev() {
            match tokio::fs::create_dir(&d).await {
                Ok(()) => made.0.push(d),
                // Made by a concurrent upload at the same moment: not ours to remove.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Failure::io(e)),
            }
        }
        Ok(made)
    }

    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for Folders {
    fn drop(&mut self) {
        // `remove_dir` fails on a folder that is not empty: someone else's file stays.
        for d in self.0.iter().rev() {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
}

/// A file being written: removed on drop unless `commit` renamed it into place.
struct Part {
    path: PathBuf,
    file: tokio::fs::File,
    written: u64,
    max: u64,
    committed: bool,
}

impl Part {
    async fn create(dir: &Path, max: u64) -> Result<Part, Failure> {
        // Unpredictable, so that nobody can aim at an upload's temporary name.
        let name = format!("{TEMPORARY_PREFIX}{:032x}.part", rand::random::<u128>());
        let path = dir.join(name);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(Failure::io)?;
        Ok(Part {
            path,
            file,
            written: 0,
            max,
            committed: false,
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.written += data.len() as u64;
        if self.written > self.max {
            return Err(too_large(self.max));
        }
        self.file.write_all(data).await.map_err(Failure::io)
    }

    async fn commit(mut self, to: &Path) -> Result<(), Failure> {
        self.file.flush().await.map_err(Failure::io)?;
        tokio::fs::rename(&self.path, to)
            .await
            .map_err(Failure::io)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The next piece of an upload's body by the body's deadline (`slow::BodyClock`: a
/// pause limit and a minimum rate); then 408 and the partial file is removed.
async fn timed<T>(
    clock: &BodyClock,
    next: impl std::future::Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout_at(clock.deadline(), next)
        .await
        .map_err(|_| Failure::new(StatusCode::REQUEST_TIMEOUT, clock.reason()))
}

/// Counts `n` body bytes for the deadline and for the fair connection limit.
fn got(clock: &mut BodyClock, slot: &Slot, n: usize) {
    clock.got(n);
    slot.body_bytes(clock.bytes());
}

fn too_large(max: u64) -> Failure {
    Failure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("upload over the {max}-byte limit (--max-upload)"),
    )
}

/// A target that is neither a folder nor a symlink (the parent is checked already).
async fn check_target(path: &Path) -> Result<bool, Failure> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => Err(Failure::new(StatusCode::CONFLICT, "a folder has that name")),
        Ok(m) if m.file_type().is_symlink() => {
            Err(Failure::new(StatusCode::FORBIDDEN, "forbidden: a symlink"))
        }
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::io(e)),
    }
}

/// `PUT /path`: creates missing parent folders, replaces an existing file; 201 or 204.
pub async fn put(
    state: &State,
    req: Request<Incoming>,
    slot: &Slot,
) -> Result<Response<Body>, Failure> {
    if req.body().size_hint().lower() > state.max_upload {
        return Err(too_large(state.max_upload));
    }
    // The body's time runs from here: while the server prepares the file, the fair
    // limit sees an upload (whose bytes waiting unread protect it), not a busy answer.
    let mut clock = BodyClock::start();
    slot.body(&clock);
    let segments = state.root.segments(req.uri().path())?;
    if let Some(bad) = segments
        .iter()
        .find(|s| String::from_utf8_lossy(s).chars().any(char::is_control))
    {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!(
                "bad file name {:?}: control characters",
                String::from_utf8_lossy(bad)
            ),
        ));
    }
    let path = state.root.write(req.uri().path())?;
    let parent = path
        .parent()
        .ok_or_else(|| Failure::new(StatusCode::FORBIDDEN, "forbidden: no parent folder"))?;
    // Declared before the part, so dropped after it: the file goes, then the folders.
    let folders = Folders::create(parent).await?;
    // Re-check now that the folders exist: nothing may have led them outside.
    let path = state.root.write(req.uri().path())?;
    let existed = check_target(&path).await?;
    let mut part = Part::create(parent, state.max_upload).await?;
    let mut body = req.into_body();
    while let Some(frame) = timed(&clock, body.frame()).await? {
        let frame = frame.map_err(|e| {
            Failure::new(StatusCode::BAD_REQUEST, format!("upload interrupted: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            got(&mut clock, slot, data.len());
            part.write(&data).await?;
        }
    }
    part.commit(&path).await?;
    folders.keep();
    Ok(empty(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    }))
}

/// `POST /folder/` with `multipart/form-data`: every file field is saved in the folder
/// under its own name. Browsers are sent back to the listing (303).
pub async fn form(
    state: &State,
    req: Request<Incoming>,
    slot: &Slot,
) -> Result<Response<Body>, Failure> {
    let dir = state.root.read(req.uri().path())?;
    if !dir.is_dir() || !dir.starts_with(state.root.dir()) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "POST a form to a folder inside the served one",
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("not a multipart form: {e}"),
        )
    })?;
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let listing = req.uri().path().to_owned();
    let mut multipart = multer::Multipart::new(data_stream(req.into_body()), boundary);
    let mut saved = Vec::new();
    let mut clock = BodyClock::start();
    slot.body(&clock);
    while let Some(mut field) = timed(&clock, multipart.next_field())
        .await?
        .map_err(bad_form)?
    {
        let Some(name) = field.file_name().filter(|n| !n.is_empty()) else {
            continue;
        };
        let name = file_name(name, state.root.hidden)?;
        let target = dir.join(&name);
        check_target(&target).await?;
        let mut part = Part::create(&dir, state.max_upload).await?;
        while let Some(chunk) = timed(&clock, field.chunk()).await?.map_err(bad_form)? {
            got(&mut clock, slot, chunk.len());
            part.write(&chunk).await?;
        }
        part.commit(&target).await?;
        saved.push(name);
    }
    if browser {
        return Ok(with_header(
            empty(StatusCode::SEE_OTHER),
            header::LOCATION,
            &listing,
        ));
    }
    let mut r = typed(
        format!("{}\n", serde_json::json!({ "saved": saved })),
        "application/json",
    );
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

fn data_stream(body: Incoming) -> impl Stream<Item = Result<Bytes, hyper::Error>> + Send {
    BodyStream::new(body).filter_map(|frame| async move {
        match frame {
            Ok(f) => f.into_data().ok().map(Ok),
            Err(e) => Some(Err(e)),
        }
    })
}

fn bad_form(e: multer::Error) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, format!("bad multipart form: {e}"))
}

/// The last component of a client-supplied file name, if it is a plain name.
pub fn file_name(name: &str, hidden: bool) -> Result<String, Failure> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let bad = |why: &str| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("bad file name {name:?}: {why}"),
        )
    };
    if base.is_empty() || base == "." || base == ".." {
        return Err(bad("empty or a dot name"));
    }
    if base.chars().any(char::is_control) {
        return Err(bad("control characters"));
    }
    if is_temporary(base.as_bytes()) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!("forbidden: {name:?} is an upload's temporary name"),
        ));
    }
    if base.starts_with('.') && !hidden {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!("forbidden: hidden name {name:?}"),
        ));
    }
    Ok(base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_file_names_are_reduced_to_plain_names() {
        assert_eq!(file_name("photo.jpg", false).unwrap(), "photo.jpg");
        assert_eq!(file_name("C:\\Users\\me\\a.txt", false).unwrap(), "a.txt");
        assert_eq!(file_name("../../etc/passwd", false).unwrap(), "passwd");
        for bad in ["..", "a/..", "", "x\u{0}y", "a\nb"] {
            assert_eq!(
                file_name(bad, false).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
        assert_eq!(
            file_name(".bashrc", false).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert!(file_name(".bashrc", true).is_ok());
    }
}
