//! Shell integration generated from the clap types: `completions SHELL` (clap_complete)
//! and `man` (clap_mangen), both written to stdout.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::app::cli::Cli;
use crate::ctx::Ctx;

/// `sockit completions SHELL`.
pub fn completions(shell: clap_complete::Shell, ctx: &Ctx) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sockit", &mut script);
    print(script, ctx)
}

/// `sockit man [DIR]`: the main manual page on stdout, or with DIR one page per command
/// and subcommand written there (the main page's SEE ALSO names them), each path printed.
pub fn man(dir: Option<&Path>, ctx: &Ctx) -> anyhow::Result<()> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        return print(page, ctx);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("write manual pages into {}", dir.display()))?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| (n == "sockit.1" || n.starts_with("sockit-")) && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    for page in pages {
        ctx.out.raw_line(page.display().to_string());
    }
    Ok(())
}

/// Hands the text to the printer, so it stays in order with any events and a closed
/// stdout ends quietly.
fn print(text: Vec<u8>, ctx: &Ctx) -> anyhow::Result<()> {
    let text = String::from_utf8(text)?;
    ctx.out
        .raw_line(text.strip_suffix('\n').unwrap_or(&text).to_owned());
    Ok(())
}
