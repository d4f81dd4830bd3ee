//! The accounts of `--auth`, `--auth-file` and `--auth-over-http`, checked before the
//! server listens: a mistake in a rule, a user given twice, or passwords that would
//! cross plain HTTP stop it with the reason.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::sync::Semaphore;

use super::limit::Failures;
use super::rules::{file_lines, RuleError, Spec, Who};
use super::{Accounts, Gate, User};

/// The largest auth file read (about 10,000 accounts with argon2 hashes).
pub const MAX_AUTH_FILE: u64 = 1024 * 1024;

/// `--auth`, `--auth-file` and `--auth-over-http` as given.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub specs: Vec<String>,
    pub file: Option<PathBuf>,
    /// The user accepts that passwords cross plain HTTP.
    pub over_http: bool,
}

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("{at}: {why}")]
    Rule { at: String, why: RuleError },
    #[error("{at}: user {name:?} is given twice: give all of a user's paths in one rule, separated by commas")]
    Twice { at: String, name: String },
    #[error("--auth with a password over plain HTTP would let anyone on the network read it (Basic auth is not encryption): serve HTTPS (--tls-self-signed, or --tls-cert and --tls-key), or add --auth-over-http to accept the risk")]
    NeedsTls,
    #[error("--auth-file {path}: {why}")]
    File { path: String, why: String },
}

impl AuthError {
    /// A mistake on the command line (exit 2), rather than a file that cannot be read.
    pub fn is_usage(&self) -> bool {
        !matches!(self, AuthError::File { .. })
    }
}

/// The gate, and what to warn about once the server listens.
pub struct Loaded {
    pub gate: Gate,
    pub warnings: Vec<String>,
}

/// How an `--auth` value is named in an error: never with its password.
fn shown(spec: &str) -> String {
    match spec.split_once(':') {
        _ if spec.starts_with('@') => format!("--auth {spec}"),
        Some((name, _)) => format!("--auth {name}:…"),
        None => "--auth".to_owned(),
    }
}

impl Gate {
    /// The accounts `config` describes (`Gate::open` when it has none); `tls` says
    /// whether the server speaks HTTPS.
    pub fn load(config: &AuthConfig, tls: bool) -> Result<Loaded, AuthError> {
        let mut specs = Vec::new();
        for text in &config.specs {
            let spec = Spec::parse(text).map_err(|why| AuthError::Rule {
                at: shown(text),
                why,
            })?;
            specs.push((shown(text), spec));
        }
        let mut warnings = Vec::new();
        if let Some(path) = &config.file {
            let (text, mode) = read(path)?;
            let mut plain = false;
            for (line, text) in file_lines(&text) {
                let at = format!("{}:{line}", path.display());
                let spec = Spec::parse(text).map_err(|why| AuthError::Rule {
                    at: at.clone(),
                    why,
                })?;
                plain |= matches!(&spec.who, Who::User { password, .. } if password.is_plain());
                specs.push((at, spec));
            }
            if plain && mode & 0o044 != 0 {
                warnings.push(format!(
                    "{} holds passwords in clear and other users can read it (mode {:o}): \
                     chmod 600 it, or give argon2, bcrypt or sha256: hashes",
                    path.display(),
                    mode & 0o777
                ));
            }
            if mode & 0o022 != 0 {
                warnings.push(format!(
                    "{} can be changed by other users (mode {:o}), who could add accounts",
                    path.display(),
                    mode & 0o777
                ));
            }
        }
        if config.specs.is_empty() && config.file.is_none() {
            return Ok(Loaded {
                gate: Gate::open(),
                warnings,
            });
        }
        let accounts = accounts(specs)?;
        if !accounts.users.is_empty() && !tls {
            if !config.over_http {
                return Err(AuthError::NeedsTls);
            }
            warnings.push(
                "--auth-over-http: passwords cross the network in clear (Basic auth is \
                 base64, not encryption); anyone who can see the traffic can read them"
                    .to_owned(),
            );
        }
        if accounts.users.is_empty() && accounts.anyone.is_empty() {
            warnings.push("--auth-file has no rules: every request will be refused".into());
        }
        Ok(Loaded {
            gate: Gate {
                accounts: Some(accounts),
            },
            warnings,
        })
    }
}

/// The text of an auth file and its permission bits.
fn read(path: &std::path::Path) -> Result<(String, u32), AuthError> {
    let fail = |why: String| AuthError::File {
        path: path.display().to_string(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(crate::net::sock::describe(&e)))?;
    if meta.len() > MAX_AUTH_FILE {
        return Err(fail(format!(
            "larger than {MAX_AUTH_FILE} bytes (MAX_AUTH_FILE): not an auth file?"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(crate::net::sock::describe(&e)))?;
    Ok((text, meta.permissions().mode()))
}

fn accounts(specs: Vec<(String, Spec)>) -> Result<Accounts, AuthError> {
    let mut users: Vec<User> = Vec::new();
    let mut anyone = Vec::new();
    for (at, spec) in specs {
        match spec.who {
            Who::Anyone => {
                for rule in spec.rules {
                    if anyone
                        .iter()
                        .any(|r: &super::Rule| r.segments == rule.segments)
                    {
                        let path = String::from_utf8_lossy(&rule.segments.join(&b'/')).into_owned();
                        let why = RuleError::Twice(format!("/{path}"));
                        return Err(AuthError::Rule { at, why });
                    }
                    anyone.push(rule);
                }
            }
            Who::User { name, password } => {
                if users.iter().any(|u| *u.name == *name) {
                    return Err(AuthError::Twice { at, name });
                }
                users.push(User {
                    name_digest: Sha256::digest(name.as_bytes()).into(),
                    name: name.into(),
                    password,
                    rules: spec.rules.into(),
                    proved: Mutex::new(None),
                });
            }
        }
    }
    let decoy = users
        .iter()
        .position(|u| u.password.is_slow())
        .or((!users.is_empty()).then_some(0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Accounts {
        users,
        anyone: Arc::from(anyone),
        decoy,
        failures: Failures::default(),
        hashing: Semaphore::new(cores),
        key: rand::random(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(specs: &[&str]) -> AuthConfig {
        AuthConfig {
            specs: specs.iter().map(|s| s.to_string()).collect(),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn issue18_passwords_need_tls_unless_the_risk_is_accepted() {
        let users = config(&["alice:secret", "@/:ro"]);
        assert!(matches!(
            Gate::load(&users, false),
            Err(AuthError::NeedsTls)
        ));
        assert!(Gate::load(&users, true).unwrap().warnings.is_empty());
        let accepted = AuthConfig {
            over_http: true,
            ..users
        };
        let loaded = Gate::load(&accepted, false).unwrap();
        assert!(loaded.warnings[0].contains("--auth-over-http"));
        assert!(Gate::load(&config(&["@/:ro", "@/up:rw"]), false).is_ok());
    }

    #[test]
    fn issue18_a_user_given_twice_is_refused_and_errors_hide_passwords() {
        let e = Gate::load(&config(&["alice:one", "alice:two@/x"]), true)
            .err()
            .unwrap();
        assert!(matches!(e, AuthError::Twice { .. }), "{e}");
        let e = Gate::load(&config(&["alice:hunter2@/x:rx"]), true)
            .err()
            .unwrap();
        assert!(e.is_usage());
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = Gate::load(&config(&["@/:ro", "@/:rw"]), true)
            .err()
            .unwrap();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn issue18_an_auth_file_readable_by_others_with_plain_passwords_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth");
        std::fs::write(&path, "# team\nalice:secret@/:rw\n\n@/:ro\n").unwrap();
        let perms = |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
        let file = AuthConfig {
            file: Some(path.clone()),
            ..AuthConfig::default()
        };
        perms(0o644).unwrap();
        let warnings = Gate::load(&file, true).unwrap().warnings;
        assert!(warnings[0].contains("chmod 600"), "{warnings:?}");
        perms(0o600).unwrap();
        assert!(Gate::load(&file, true).unwrap().warnings.is_empty());
        std::fs::write(&path, "alice:sec\nbob:\n").unwrap();
        let e = Gate::load(&file, true).err().unwrap().to_string();
        assert!(e.contains("auth:2: password: the password is empty"), "{e}");
        let missing = AuthConfig {
            file: Some(dir.path().join("none")),
            ..AuthConfig::default()
        };
        assert!(!Gate::load(&missing, true).err().unwrap().is_usage());
    }
}
