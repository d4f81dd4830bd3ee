//! Runs the real `sockit` (this very executable) as a child with `--json`, so lessons
//! show the commands themselves at work rather than copies of them.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The longest a child may take to print its next event or to exit.
const STEP: Duration = Duration::from_secs(8);

/// A running `sockit --json …`; killed if dropped before it finished.
pub struct Sockit {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    pub args: String,
}

/// How a child ended: its status, the events it printed after the ones already read,
/// and its stderr.
pub struct Finished {
    pub status: ExitStatus,
    pub events: Vec<Value>,
    pub stderr: String,
}

pub fn spawn(args: &[&str]) -> anyhow::Result<Sockit> {
    let exe = std::env::current_exe().context("locating the sockit executable")?;
    let mut child = Command::new(exe)
        .arg("--json")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("run sockit {}", args.join(" ")))?;
    let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    Ok(Sockit {
        child,
        stdout,
        args: args.join(" "),
    })
}

impl Sockit {
    /// The next event, or `None` when the child closed its stdout.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<Value>> {
        let line = tokio::time::timeout(STEP, self.stdout.next_line())
            .await
            .with_context(|| format!("sockit {}: no output within {STEP:?}", self.args))??;
        match line {
            Some(l) => {
                Ok(Some(serde_json::from_str(&l).with_context(|| {
                    format!("sockit {}: not JSON: {l}", self.args)
                })?))
            }
            None => Ok(None),
        }
    }

    /// Skips events until one named `name`.
    pub async fn wait_for(&mut self, name: &str) -> anyhow::Result<Value> {
        while let Some(ev) = self.next_event().await? {
            if ev["event"] == name {
                return Ok(ev);
            }
        }
        let rest = self.stderr().await;
        anyhow::bail!("sockit {} ended without a {name} event: {rest}", self.args)
    }

    async fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(STEP, e.read_to_string(&mut text)).await;
        }
        text.trim().to_owned()
    }

    /// Waits for the exit, collecting what is left of its output.
    pub async fn finish(mut self) -> anyhow::Result<Finished> {
        let mut events = Vec::new();
        while let Some(ev) = self.next_event().await? {
            events.push(ev);
        }
        let stderr = self.stderr().await;
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .with_context(|| format!("sockit {}: did not exit within {STEP:?}", self.args))??;
        Ok(Finished {
            status,
            events,
            stderr,
        })
    }
}
