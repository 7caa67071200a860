//! `voxload presets [NAME]`: the built-in presets, or one of them whole,
//! so a user sees exactly which keys `--preset NAME` sets before
//! overriding some.

use clap::Args;

use super::EXIT_OK;
use crate::config::preset::{find, PRESETS};

/// `voxload presets`.
#[derive(Debug, Clone, Args)]
pub struct PresetsArgs {
    /// Print this preset's scenario file instead of the list.
    pub name: Option<String>,
}

/// List the presets, or print one.
pub fn run_presets(args: &PresetsArgs) -> anyhow::Result<i32> {
    match &args.name {
        Some(name) => print!("{}", find(name)?.text),
        None => {
            let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
            for p in PRESETS {
                println!("{:width$}  {:5}  {}", p.name, p.service.name(), p.summary);
            }
            println!("\nuse: voxload <command> --preset NAME --url URL …; print one: voxload presets NAME");
        }
    }
    Ok(EXIT_OK)
}
