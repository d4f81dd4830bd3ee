//! Shell integration generated from the clap types: `completions SHELL` (clap_complete)
//! and `man` (clap_mangen), both written to stdout.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::run::Ctx;

/// `sockit completions SHELL`.
pub fn completions(shell: clap_complete::Shell, ctx: &Ctx) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sockit", &mut script);
    print(script, ctx)
}

/// `sockit man`: the manual page of sockit and its commands, in roff.
pub fn man(ctx: &Ctx) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    print(page, ctx)
}

/// Hands the text to the printer, so it stays in order with any events and a closed
/// stdout ends quietly.
fn print(text: Vec<u8>, ctx: &Ctx) -> anyhow::Result<()> {
    let text = String::from_utf8(text)?;
    ctx.out
        .raw_line(text.strip_suffix('\n').unwrap_or(&text).to_owned());
    Ok(())
}
