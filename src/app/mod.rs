//! The top of the program: parses the command line, turns it into each command's
//! configuration, builds the runtime and the printer, installs the Ctrl-C handler and
//! runs the command with its `Ctx`. Nothing below this module sees the command line.

pub mod cli; // the command line (clap types), one struct per command
mod config; // the command line turned into each command's configuration
mod flags; // the flags of each command
mod perf_flags; // the flags of `perf` and `perf serve`
mod send_flags; // the flags of `send` and `recv`
pub mod shell; // `completions` and `man`: shell integration generated from the clap types

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::cli::{
    BroadcastCommand, Cli, Command, HttpCommand, PerfCommand, TcpCommand, UdpCommand,
};
use crate::ctx::Ctx;
use crate::output::Printer;

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
        crate::net::shutdown::cancel_on_signal(shutdown);
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
        Command::Tcp(TcpCommand::Serve(args)) => crate::tcp::serve(args.config()?, ctx).await,
        Command::Tcp(TcpCommand::Connect(args)) => crate::tcp::connect(args.config()?, ctx).await,
        Command::Http(HttpCommand::Dump(args)) => crate::http::dump(args.into(), ctx).await,
        Command::Http(HttpCommand::Serve(args)) => crate::http::serve(args.into(), ctx).await,
        Command::Send(args) if args.wormhole => {
            crate::wormhole::send(args.wormhole_config()?, ctx).await
        }
        Command::Send(args) => crate::transfer::send(args.lan_config()?, ctx).await,
        Command::Recv(args) if args.wormhole => {
            crate::wormhole::recv(args.wormhole_config()?, ctx).await
        }
        Command::Recv(args) => crate::transfer::recv(args.config()?, ctx).await,
        Command::Udp(UdpCommand::Serve(args)) => crate::udp::serve(args.config()?, ctx).await,
        Command::Udp(UdpCommand::Send(args)) => crate::udp::send(args.into(), ctx).await,
        Command::Broadcast(BroadcastCommand::Send(args)) => {
            crate::broadcast::send(args.into(), ctx).await
        }
        Command::Broadcast(BroadcastCommand::Listen(args)) => {
            crate::broadcast::listen(args.into(), ctx).await
        }
        Command::Info(args) => crate::info::run(args.into(), ctx).await,
        Command::Perf(args) => match args.serve {
            Some(PerfCommand::Serve(serve)) => crate::perf::serve(serve.config()?, ctx).await,
            None => crate::perf::client(args.client.config()?, ctx).await,
        },
        Command::Tour(args) => crate::tour::run(args.into(), ctx).await,
        Command::Completions(args) => crate::app::shell::completions(args.shell, &ctx),
        Command::Man(args) => crate::app::shell::man(args.dir.as_deref(), &ctx),
    }
}
