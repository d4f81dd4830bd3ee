//! Accounts for `http serve` (`--auth`, `--auth-file`): HTTP Basic authentication
//! (RFC 7617) and read or write rights per path, checked once for every request, before
//! it is routed and before its body is touched (`Gate::check`), whatever its method.

mod limit;
mod load;
mod origin;
mod password;
mod rules;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

pub use limit::{Lockout, FAILURE_BURST, FAILURE_REFILL, MAX_TRACKED_CLIENTS};
pub use load::{AuthConfig, AuthError, Loaded, MAX_AUTH_FILE};
pub use password::BCRYPT_MAX_PASSWORD;

use super::response::{text, with_header, Body, Failure};
use super::safepath::Root;
use limit::Failures;
use password::Password;
use rules::{url_segments, Mode, Rights, Rule};

/// The realm browsers show when they ask for a name and password.
pub const REALM: &str = "sockit";

/// The longest `Authorization` value looked at: a longer one is a failed login.
pub const MAX_CREDENTIALS: usize = 4096;

/// What `http serve` lets through: everything (no `--auth`), or what the accounts allow.
pub struct Gate {
    accounts: Option<Accounts>,
}

struct Accounts {
    users: Vec<User>,
    /// What anyone may do without a password (`@PATH` rules).
    anyone: Arc<[Rule]>,
    /// The user whose password an unknown name is checked against, so that an unknown
    /// name costs as much as a wrong password for the slowest hash.
    decoy: Option<usize>,
    failures: Failures,
    /// Slow hashes checked at once (each takes a blocking thread and, for argon2, its
    /// memory cost): the number of cores.
    hashing: Semaphore,
    /// Random per run: keys the digests of `User::proved`.
    key: [u8; 32],
}

struct User {
    name: Arc<str>,
    name_digest: [u8; 32],
    password: Password,
    rules: Arc<[Rule]>,
    /// For a slow hash, a keyed digest of the password last found right: browsers send
    /// it with every request, and hashing it each time would cost ~50 ms per request.
    proved: Mutex<Option<[u8; 32]>>,
}

/// Who the request comes from and what it may do: handed to the routes (as a request
/// extension) so that a listing shows its upload form and delete buttons only to those
/// who may use them.
#[derive(Debug, Clone)]
pub struct Access {
    /// None: no accounts, everything is allowed.
    rights: Option<Rights>,
    /// The name logged in with.
    pub user: Option<Arc<str>>,
    /// Anonymous on a server with accounts: a listing offers to log in (`?login`).
    pub can_log_in: bool,
}

impl Access {
    /// Whether PUT, POST and DELETE on `url_path` would pass the gate.
    pub fn writes(&self, url_path: &str) -> bool {
        match &self.rights {
            None => true,
            Some(rights) => rights.mode(&url_segments(url_path)) == Some(Mode::Write),
        }
    }
}

/// The gate's answer for one request.
pub struct Checked {
    /// The account the request's credentials name, whether or not the password was
    /// right (for the log); none for a name that is no account's.
    pub user: Option<String>,
    /// What the request may do, or the refusal to send instead of routing it.
    pub verdict: Result<Access, Response<Body>>,
    /// This request's failed login was the last its client may make for now.
    pub lockout: Option<Lockout>,
}

impl Gate {
    /// No accounts: every request passes.
    pub fn open() -> Gate {
        Gate { accounts: None }
    }

    /// Answers `req` from `peer`: lets it through with what it may do, or refuses it
    /// (401 asks for a password, 403 tells a logged-in user no, 429 after too many
    /// failed logins). Reads nothing of the body: a refused upload is never read.
    pub async fn check<B>(&self, req: &Request<B>, peer: SocketAddr, root: &Root) -> Checked {
        let Some(accounts) = &self.accounts else {
            return pass(None, None, false);
        };
        let path = req.uri().path();
        // The same segments as `safepath` serves, so that no spelling of a path (`%2e`,
        // `//`) matches another rule than the file it reaches.
        let segments = match path {
            "*" => Vec::new(),
            _ => match root.segments(path) {
                Ok(s) => s,
                Err(e) => return refuse(None, Failure::from(e).into_response()),
            },
        };
        let needed = match *req.method() {
            Method::GET | Method::HEAD | Method::OPTIONS => Mode::Read,
            _ => Mode::Write,
        };
        if needed == Mode::Write && origin::cross_site(req) {
            let why = "forbidden: a write sent by another site's page (cross-site request)\n";
            return refuse(None, text(StatusCode::FORBIDDEN, why));
        }
        let (own, user) = match req.headers().get(header::AUTHORIZATION) {
            None if wants_login(req) => return refuse(None, challenge("log in")),
            None => (Arc::from([]), None),
            Some(value) => match accounts.login(value, peer).await {
                Ok(user) => (user.rules.clone(), Some(user.name.clone())),
                Err(refusal) => return refusal,
            },
        };
        let rights = Rights {
            own,
            anyone: accounts.anyone.clone(),
        };
        let mode = rights.mode(&segments);
        match user {
            _ if mode >= Some(needed) => {
                let can_log_in = user.is_none() && !accounts.users.is_empty();
                pass(Some(rights), user, can_log_in)
            }
            // Anyone refused is asked to log in: a user may be allowed where anyone is not.
            None => refuse(None, challenge("authentication required")),
            Some(name) => {
                let why = match mode {
                    Some(_) => format!("forbidden: {name} may only read {path}\n"),
                    None => format!("forbidden: {name} has no access to {path}\n"),
                };
                refuse(Some(name.to_string()), text(StatusCode::FORBIDDEN, why))
            }
        }
    }
}

fn pass(rights: Option<Rights>, user: Option<Arc<str>>, can_log_in: bool) -> Checked {
    Checked {
        user: user.as_deref().map(str::to_owned),
        verdict: Ok(Access {
            rights,
            user,
            can_log_in,
        }),
        lockout: None,
    }
}

fn refuse(user: Option<String>, response: Response<Body>) -> Checked {
    Checked {
        user,
        verdict: Err(response),
        lockout: None,
    }
}

/// 401 with the challenge that makes a browser ask for a name and password.
fn challenge(why: &str) -> Response<Body> {
    with_header(
        text(StatusCode::UNAUTHORIZED, format!("{why}\n")),
        header::WWW_AUTHENTICATE,
        &format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
    )
}

/// `?login`: a browser that can read anonymously never asks for a password by itself.
fn wants_login<B>(req: &Request<B>) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "login" || p.starts_with("login="))
    })
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The user name and password of `Basic` credentials.
fn basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.as_bytes();
    if value.len() > MAX_CREDENTIALS {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

impl Accounts {
    /// The user whose credentials `value` holds, or the refusal: 429 while `peer` has
    /// failed too often (checked before any hashing), else 401 (counted).
    ///
    /// The refusal names the user only when the name is an account's: a name that is
    /// no one's may be a password typed into the wrong field, and is never logged.
    async fn login(&self, value: &HeaderValue, peer: SocketAddr) -> Result<&User, Checked> {
        let given = basic(value);
        let known = given.as_ref().and_then(|(name, _)| self.find(name));
        let name = known.map(|i| self.users[i].name.to_string());
        if let Some(wait) = self.failures.wait(peer.ip(), Instant::now()) {
            let secs = retry_after(wait);
            let why = format!("too many failed logins from this address: try again in {secs} s\n");
            let r = with_header(
                text(StatusCode::TOO_MANY_REQUESTS, why),
                header::RETRY_AFTER,
                &secs.to_string(),
            );
            return Err(refuse(name, r));
        }
        if let Some((_, password)) = given {
            if let Some(found) = self.verify(known, password).await {
                return Ok(found);
            }
        }
        let lockout = self.failures.failed(peer.ip(), Instant::now());
        Err(Checked {
            lockout,
            ..refuse(name, challenge("wrong user name or password"))
        })
    }

    /// The index of the user called `name`. Every name is compared, in constant time,
    /// so the time taken tells nothing about which names exist.
    fn find(&self, name: &[u8]) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(name).into();
        let mut found = None;
        for (i, user) in self.users.iter().enumerate() {
            if bool::from(user.name_digest.ct_eq(&digest)) {
                found = Some(i);
            }
        }
        found
    }

    /// The user at `known` if `password` is theirs. A password is always checked,
    /// against the decoy's for an unknown name, so that an unknown name takes as long
    /// as a wrong password.
    async fn verify(&self, known: Option<usize>, password: Vec<u8>) -> Option<&User> {
        let checked = &self.users[known.or(self.decoy)?];
        let right = if checked.password.is_slow() {
            let proof: [u8; 32] = Sha256::new()
                .chain_update(self.key)
                .chain_update(&password)
                .finalize()
                .into();
            let cached = checked.proved.lock().ok().and_then(|p| *p);
            if known.is_some() && cached.is_some_and(|c| bool::from(c.ct_eq(&proof))) {
                true
            } else {
                let right = self.slow_verify(&checked.password, password).await;
                if right && known.is_some() {
                    if let Ok(mut p) = checked.proved.lock() {
                        *p = Some(proof);
                    }
                }
                right
            }
        } else {
            checked.password.verify(&password)
        };
        (right && known.is_some()).then_some(checked)
    }

    /// An argon2 or bcrypt check, off the runtime's threads: each takes milliseconds to
    /// a second of CPU, which would stall every connection of this thread.
    async fn slow_verify(&self, hash: &Password, candidate: Vec<u8>) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || hash.verify(&candidate))
            .await
            .unwrap_or(false)
    }
}
