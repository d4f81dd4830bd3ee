//! `sockit tour`: every lesson of the course notes made to happen on loopback, shown
//! (what is sent, what arrives) and explained in English or Chinese, each checked.

mod apps;
mod real;
mod stream;
mod text;
mod throughput;
mod udp;

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::ctx::Ctx;
use crate::output::Event;

pub use text::Lang;

/// The longest one lesson may take before it counts as failed; the whole tour is meant
/// to finish in well under 30 s.
const LESSON_TIMEOUT: Duration = Duration::from_secs(10);

/// The lessons, in the order of the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topic {
    /// 一.1: the peer exits; the other side's receive returns empty.
    PeerExit,
    /// 一.2: sending to a vanished peer: broken pipe (EPIPE) or reset.
    BrokenPipe,
    /// 一.3: one listening socket, many clients at once.
    ManyClients,
    /// 二: send and receive buffers; a sender blocks when nobody reads.
    Buffers,
    /// 二, measured: a small and a large window, with `perf`.
    Throughput,
    /// 三: sticky packets, then `len` and delimiter framing.
    Sticky,
    /// 三.3: pacing the sender.
    Pacing,
    /// 四/五: UDP keeps message boundaries.
    UdpBoundaries,
    /// 四: a datagram larger than the buffer is truncated.
    UdpTruncation,
    /// sendto to nobody: ICMP port unreachable, ECONNREFUSED.
    UdpRefused,
    /// 四.3: command-line arguments (sys.argv) as one datagram.
    Argv,
    /// 七: socket attributes and options.
    Info,
    /// 八.1: broadcast on loopback, and broadcast storms.
    Broadcast,
    /// 八.2: an HTTP request, line by line.
    Http,
    /// 作业: a file over TCP, verified, and the raw protocol.
    Homework,
}

impl Topic {
    /// Every lesson, in the order of the notes (the order of the variants).
    pub fn all() -> &'static [Topic] {
        <Topic as clap::ValueEnum>::value_variants()
    }

    /// The name on the command line and in `lesson` events: clap's kebab-case of the
    /// variant (`peer-exit`).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .expect("no lesson is hidden from the command line")
            .get_name()
            .to_owned()
    }

    fn demonstrate<'a>(self, l: &'a mut Lesson) -> Pin<Box<dyn Future<Output = Demo> + 'a>> {
        match self {
            Topic::PeerExit => Box::pin(stream::peer_exit(l)),
            Topic::BrokenPipe => Box::pin(stream::broken_pipe(l)),
            Topic::ManyClients => Box::pin(stream::many_clients(l)),
            Topic::Buffers => Box::pin(stream::buffers(l)),
            Topic::Throughput => Box::pin(throughput::throughput(l)),
            Topic::Sticky => Box::pin(stream::sticky(l)),
            Topic::Pacing => Box::pin(stream::pacing(l)),
            Topic::UdpBoundaries => Box::pin(udp::boundaries(l)),
            Topic::UdpTruncation => Box::pin(udp::truncation(l)),
            Topic::UdpRefused => Box::pin(udp::refused(l)),
            Topic::Argv => Box::pin(udp::argv(l)),
            Topic::Info => Box::pin(apps::info(l)),
            Topic::Broadcast => Box::pin(udp::broadcast(l)),
            Topic::Http => Box::pin(apps::http(l)),
            Topic::Homework => Box::pin(apps::homework(l)),
        }
    }
}

/// What a demonstration returns: `Err` when a step could not be carried out at all
/// (the lesson then fails with that reason).
pub type Demo = anyhow::Result<()>;

/// One lesson being run: the lines it shows and the checks that failed.
pub struct Lesson {
    lang: Lang,
    steps: Vec<String>,
    failures: Vec<String>,
}

impl Lesson {
    fn new(lang: Lang) -> Self {
        Lesson {
            lang,
            steps: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Picks the English or the Chinese form.
    pub fn tr(&self, en: impl Into<String>, zh: impl Into<String>) -> String {
        match self.lang {
            Lang::En => en.into(),
            Lang::Zh => zh.into(),
        }
    }

    /// Shows one step: what was sent, what arrived.
    pub fn say(&mut self, en: impl Into<String>, zh: impl Into<String>) {
        let line = self.tr(en, zh);
        self.steps.push(line);
    }

    /// Records whether what happened is what the lesson explains.
    pub fn check(&mut self, ok: bool, en: impl Into<String>, zh: impl Into<String>) {
        if !ok {
            let what = self.tr(en, zh);
            self.failures.push(what);
        }
    }
}

/// What `tour` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct TourConfig {
    /// One lesson, or every one.
    pub topic: Option<Topic>,
    /// The language of the explanations (default: from the locale).
    pub lang: Option<Lang>,
}

/// `sockit tour [TOPIC] [--lang zh|en]`.
pub async fn run(args: TourConfig, ctx: Ctx) -> anyhow::Result<()> {
    let lang = args.lang.unwrap_or_else(Lang::from_env);
    let topics: Vec<Topic> = match args.topic {
        Some(t) => vec![t],
        None => Topic::all().to_vec(),
    };
    let mut failed = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        let mut lesson = Lesson::new(lang);
        let outcome = tokio::select! {
            // Ctrl-C ends the tour between steps; children are killed on drop.
            _ = ctx.shutdown.cancelled() => break,
            outcome = tokio::time::timeout(LESSON_TIMEOUT, topic.demonstrate(&mut lesson)) => outcome,
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => lesson.failures.push(format!("{e:#}")),
            Err(_) => {
                let what = lesson.tr(
                    format!("did not finish within {LESSON_TIMEOUT:?}"),
                    format!("未在 {LESSON_TIMEOUT:?} 内完成"),
                );
                lesson.failures.push(what);
            }
        }
        let ok = lesson.failures.is_empty();
        if !ok {
            failed.push(topic.name());
        }
        let (title, explanation) = text::lesson(*topic, lang);
        if !ctx.out.is_json() {
            ctx.out
                .raw_line(heading(i + 1, topics.len(), &topic.name(), title));
            // Steps are the lesson's own sentences; bytes from the network in them were
            // already escaped (or quoted with {:?}) where they were written.
            for step in &lesson.steps {
                ctx.out.raw_line(format!("  {step}"));
            }
            ctx.out.raw_line(wrap(explanation, "  ▸ "));
        }
        ctx.out.emit(&Event::Lesson {
            topic: topic.name(),
            ok,
            title: title.to_owned(),
            steps: lesson.steps,
            explanation: explanation.to_owned(),
            failures: lesson.failures,
        });
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "tour: {} of {} lessons did not behave as explained: {}",
            failed.len(),
            topics.len(),
            failed.join(", ")
        ))
    }
}

fn heading(n: usize, of: usize, name: &str, title: &str) -> String {
    format!("\n[{n}/{of}] {name}: {title}")
}

/// The explanation as one indented paragraph per source line.
fn wrap(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{prefix}{line}");
    }
    out
}
