//! The `--auth` syntax and what it means: who (a user with a password, or anyone) may
//! read or write under which paths.
//!
//! `USER:PASS` is read-write on `/`; `USER:PASS@PATH[:ro|rw][,PATH[:ro|rw]]…` names the
//! paths, read-only when no mode is given (as dufs does); `@PATH[:ro|rw]` is for anyone,
//! without a password. The password ends at the last `@` followed by `/` (hashes hold
//! no `@`; a plain password holding `@/` must be followed by its paths). In a path,
//! `%40` `%2C` `%3A` `%25` stand for `@ , : %`.
//!
//! The longest rule path that is a prefix of the request's path, by whole segments,
//! decides among one principal's rules; a user may always do at least what anyone may
//! (`Rights::mode`). Modes only choose between reading and writing: no rule takes away
//! reading below a folder one may read, so a check at a folder covers all that is under
//! it (listings, archives).

use std::sync::Arc;

use thiserror::Error;

use super::password::{Password, PasswordError};

/// What a rule allows; `Write` includes `Read` (ordered so that `max` is the union).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// `ro`: GET, HEAD, OPTIONS (files, ranges, listings, archives).
    Read,
    /// `rw`: PUT, POST and DELETE too, when the server has `--upload` / `--delete`.
    Write,
}

/// One path and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Decoded segments: `/photos/2024` is `["photos", "2024"]`, `/` is none.
    pub segments: Vec<Vec<u8>>,
    pub mode: Mode,
}

/// Whom a spec is about.
#[derive(Debug, Clone)]
pub enum Who {
    Anyone,
    User { name: String, password: Password },
}

/// One `--auth` value or auth file line.
#[derive(Debug, Clone)]
pub struct Spec {
    pub who: Who,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    #[error("expected USER:PASS[@PATH[:ro|rw],…] or @PATH[:ro|rw]")]
    Shape,
    #[error("the user name is empty (anyone's access is written @PATH)")]
    NoName,
    #[error("control characters in the user name")]
    NameControl,
    #[error("password: {0}")]
    Password(#[from] PasswordError),
    #[error("no path after @")]
    NoPath,
    #[error("path {0:?} must start with /")]
    Relative(String),
    #[error("path {0:?}: '.', '..' and encoded slashes are not allowed")]
    Segment(String),
    #[error("path {path:?}: unknown mode {mode:?}: ro or rw (a ':' in a path is %3A)")]
    UnknownMode { path: String, mode: String },
    #[error("path {0:?} is given twice")]
    Twice(String),
}

impl Spec {
    pub fn parse(text: &str) -> Result<Spec, RuleError> {
        if let Some(paths) = text.strip_prefix('@') {
            return Ok(Spec {
                who: Who::Anyone,
                rules: rules(paths)?,
            });
        }
        let (name, rest) = text.split_once(':').ok_or(RuleError::Shape)?;
        if name.is_empty() {
            return Err(RuleError::NoName);
        }
        if name.chars().any(char::is_control) {
            return Err(RuleError::NameControl);
        }
        let (password, rules) = match rest.rfind("@/") {
            Some(at) => (&rest[..at], rules(&rest[at + 1..])?),
            None => (
                rest,
                vec![Rule {
                    segments: Vec::new(),
                    mode: Mode::Write,
                }],
            ),
        };
        Ok(Spec {
            who: Who::User {
                name: name.to_owned(),
                password: Password::parse(password)?,
            },
            rules,
        })
    }
}

/// `PATH[:MODE],PATH[:MODE]…`
fn rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    if text.is_empty() {
        return Err(RuleError::NoPath);
    }
    let mut rules: Vec<Rule> = Vec::new();
    for item in text.split(',') {
        let (path, mode) = match item.rsplit_once(':') {
            Some((path, "ro")) => (path, Mode::Read),
            Some((path, "rw")) => (path, Mode::Write),
            Some((path, mode)) => {
                return Err(RuleError::UnknownMode {
                    path: path.to_owned(),
                    mode: mode.to_owned(),
                })
            }
            None => (item, Mode::Read),
        };
        let segments = rule_segments(path)?;
        if rules.iter().any(|r| r.segments == segments) {
            return Err(RuleError::Twice(path.to_owned()));
        }
        rules.push(Rule { segments, mode });
    }
    Ok(rules)
}

fn rule_segments(path: &str) -> Result<Vec<Vec<u8>>, RuleError> {
    if !path.starts_with('/') {
        return Err(RuleError::Relative(path.to_owned()));
    }
    let mut segments = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let seg: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
        if seg == b"." || seg == b".." || seg.contains(&b'/') || seg.contains(&0) {
            return Err(RuleError::Segment(path.to_owned()));
        }
        segments.push(seg);
    }
    Ok(segments)
}

/// The mode of the longest rule whose path is a prefix of `segments`; none when no
/// rule covers them.
pub fn mode_at(rules: &[Rule], segments: &[Vec<u8>]) -> Option<Mode> {
    rules
        .iter()
        .filter(|r| segments.starts_with(&r.segments))
        .max_by_key(|r| r.segments.len())
        .map(|r| r.mode)
}

/// What one request may do: its user's rules (none when anonymous) and anyone's.
/// Logging in never takes a right away, so that a browser that sends its password with
/// every request after `?login` still reads what anyone may read.
#[derive(Debug, Clone)]
pub struct Rights {
    pub own: Arc<[Rule]>,
    pub anyone: Arc<[Rule]>,
}

impl Rights {
    /// The greater of the two modes at `segments`; each is its longest matching rule's.
    pub fn mode(&self, segments: &[Vec<u8>]) -> Option<Mode> {
        mode_at(&self.own, segments).max(mode_at(&self.anyone, segments))
    }
}

/// The segments of a URL path for matching only (what may be served is `safepath`'s
/// business): percent-decoded, empty and `.` segments dropped.
pub fn url_segments(url_path: &str) -> Vec<Vec<u8>> {
    url_path
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>())
        .filter(|s| !s.is_empty() && s != b".")
        .collect()
}

/// The lines of an auth file that hold a spec, with their line numbers: blank lines and
/// lines starting with `#` are left out.
pub fn file_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str) -> Vec<Vec<u8>> {
        url_segments(path)
    }

    fn user(spec: &Spec) -> (&str, &Password) {
        match &spec.who {
            Who::User { name, password } => (name, password),
            Who::Anyone => panic!("not a user"),
        }
    }

    #[test]
    fn issue18_a_bare_user_writes_everywhere_and_a_path_alone_reads() {
        let s = Spec::parse("alice:secret").unwrap();
        assert_eq!(user(&s).0, "alice");
        assert!(user(&s).1.verify(b"secret"));
        assert_eq!(mode_at(&s.rules, &seg("/any/where")), Some(Mode::Write));
        let s = Spec::parse("bob:pw@/photos,/inbox:rw").unwrap();
        assert_eq!(mode_at(&s.rules, &seg("/photos/a.jpg")), Some(Mode::Read));
        assert_eq!(mode_at(&s.rules, &seg("/inbox/")), Some(Mode::Write));
        assert_eq!(mode_at(&s.rules, &seg("/")), None);
        let s = Spec::parse("@/:ro").unwrap();
        assert!(matches!(s.who, Who::Anyone));
        assert_eq!(mode_at(&s.rules, &seg("/x")), Some(Mode::Read));
    }

    #[test]
    fn issue18_prefixes_match_whole_segments_and_the_longest_wins() {
        let s = Spec::parse("a:b@/:rw,/photos:ro,/photos/inbox:rw").unwrap();
        assert_eq!(mode_at(&s.rules, &seg("/photosx")), Some(Mode::Write));
        assert_eq!(mode_at(&s.rules, &seg("/photos")), Some(Mode::Read));
        assert_eq!(mode_at(&s.rules, &seg("/photos/x.jpg")), Some(Mode::Read));
        assert_eq!(
            mode_at(&s.rules, &seg("/photos/inbox/x")),
            Some(Mode::Write)
        );
        let only = Spec::parse("a:b@/photos").unwrap();
        assert_eq!(mode_at(&only.rules, &seg("/photosx/y")), None);
        assert_eq!(mode_at(&only.rules, &seg("/%70hotos/y")), Some(Mode::Read));
    }

    #[test]
    fn issue18_a_user_may_do_what_anyone_may_and_more() {
        let anyone: Arc<[Rule]> = Spec::parse("@/public:ro,/drop:rw").unwrap().rules.into();
        let user = Rights {
            own: Spec::parse("u:p@/photos:rw,/public/own:rw,/drop:ro")
                .unwrap()
                .rules
                .into(),
            anyone: anyone.clone(),
        };
        assert_eq!(user.mode(&seg("/public/x")), Some(Mode::Read));
        assert_eq!(user.mode(&seg("/public/own/x")), Some(Mode::Write));
        assert_eq!(user.mode(&seg("/drop/x")), Some(Mode::Write), "anyone's rw");
        assert_eq!(user.mode(&seg("/photos")), Some(Mode::Write));
        assert_eq!(user.mode(&seg("/")), None);
        let nobody = Rights {
            own: Arc::from([]),
            anyone,
        };
        assert_eq!(nobody.mode(&seg("/photos/x")), None);
        assert_eq!(nobody.mode(&seg("/public")), Some(Mode::Read));
    }

    #[test]
    fn issue18_passwords_may_hold_colons_and_at_signs() {
        let s = Spec::parse("alice:p@ss:w0rd@/docs:rw").unwrap();
        assert!(user(&s).1.verify(b"p@ss:w0rd"));
        assert_eq!(s.rules[0].segments, seg("/docs"));
        let s = Spec::parse("alice:a@/b@/:rw").unwrap();
        assert!(user(&s).1.verify(b"a@/b"), "the last @/ starts the paths");
        assert_eq!(mode_at(&s.rules, &seg("/x")), Some(Mode::Write));
        let s = Spec::parse("alice:trailing@").unwrap();
        assert!(user(&s).1.verify(b"trailing@"));
        let s = Spec::parse("carol:x@/a%2Cb%3Ac%40d:rw").unwrap();
        assert_eq!(s.rules[0].segments, vec![b"a,b:c@d".to_vec()]);
    }

    #[test]
    fn issue18_mistakes_are_refused_with_their_reason() {
        let err = |t| Spec::parse(t).unwrap_err();
        assert_eq!(err("alice"), RuleError::Shape);
        assert_eq!(err(":pw"), RuleError::NoName);
        assert_eq!(err("alice:"), RuleError::Password(PasswordError::Empty));
        assert_eq!(err("@"), RuleError::NoPath);
        assert_eq!(err("@photos"), RuleError::Relative("photos".into()));
        assert_eq!(err("@/a/../b"), RuleError::Segment("/a/../b".into()));
        assert_eq!(err("@/a%2fb"), RuleError::Segment("/a%2fb".into()));
        assert!(matches!(err("@/a:rx"), RuleError::UnknownMode { .. }));
        assert_eq!(err("@/a,/a/:rw"), RuleError::Twice("/a/".into()));
    }

    #[test]
    fn issue18_auth_files_skip_comments_and_blank_lines() {
        let text = "# accounts\n\nalice:secret\n  # indented comment\n@/:ro\n";
        let lines: Vec<_> = file_lines(text).collect();
        assert_eq!(lines, vec![(3, "alice:secret"), (5, "@/:ro")]);
    }
}
