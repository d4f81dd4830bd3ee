//! Runs a parsed command line: builds the runtime and the printer, installs the
//! Ctrl-C handler and hands the command its `Ctx`.

use std::fmt;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{BroadcastCommand, Cli, Command, HttpCommand, TcpCommand, UdpCommand};
use crate::event::Printer;

/// A mistake in the command line found after parsing; `main` exits with code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Ctrl-C (or SIGTERM) ended a command that had not finished its work; `main` exits
/// with 130, as a shell does for a command killed by SIGINT. The text says what is left.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted: {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// What every command is given.
#[derive(Clone)]
pub struct Ctx {
    pub out: Printer,
    pub verbose: bool,
    /// Cancelled by Ctrl-C, SIGTERM, or a closed stdout.
    pub shutdown: CancellationToken,
}

/// Runs `cli` to completion; every queued event is written before this returns.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let (out, printer) = Printer::new(cli.json, cli.command.data_on_stdout(), shutdown.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ctx = Ctx {
        out,
        verbose: cli.verbose,
        shutdown: shutdown.clone(),
    };
    let result = runtime.block_on(async move {
        crate::shutdown::cancel_on_signal(shutdown);
        dispatch(cli.command, ctx).await
    });
    // Tasks still holding a printer (or blocked reading stdin) are dropped here, so the
    // printer's queue can end.
    runtime.shutdown_timeout(Duration::from_millis(100));
    printer.finish();
    result
}

async fn dispatch(command: Command, ctx: Ctx) -> anyhow::Result<()> {
    match command {
        Command::Tcp(TcpCommand::Serve(args)) => crate::tcp::serve(args, ctx).await,
        Command::Tcp(TcpCommand::Connect(args)) => crate::tcp::connect(args, ctx).await,
        Command::Http(HttpCommand::Dump(args)) => crate::http::dump(args, ctx).await,
        Command::Http(HttpCommand::Serve(args)) => crate::http::serve(args, ctx).await,
        Command::Send(args) => crate::transfer::send(args, ctx).await,
        Command::Recv(args) => crate::transfer::recv(args, ctx).await,
        Command::Udp(UdpCommand::Serve(args)) => crate::udp::serve(args, ctx).await,
        Command::Udp(UdpCommand::Send(args)) => crate::udp::send(args, ctx).await,
        Command::Broadcast(BroadcastCommand::Send(args)) => crate::broadcast::send(args, ctx).await,
        Command::Broadcast(BroadcastCommand::Listen(args)) => {
            crate::broadcast::listen(args, ctx).await
        }
        Command::Info(args) => crate::info::run(args, ctx).await,
        Command::Tour(args) => crate::tour::run(args, ctx).await,
        Command::Completions(args) => crate::shell::completions(args.shell, &ctx),
        Command::Man(args) => crate::shell::man(args.dir.as_deref(), &ctx),
    }
}
