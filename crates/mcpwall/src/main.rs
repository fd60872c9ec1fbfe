//! `mcpwall`: a security firewall for the Model Context Protocol.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod input;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// Exit statuses scripts can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Nothing at or above the threshold.
    Clean = 0,
    /// Findings at or above the threshold (or failing rule examples).
    Findings = 1,
    /// Bad usage or unreadable input: nothing was judged.
    Error = 2,
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(status) => ExitCode::from(status as u8),
        Err(e) => {
            let mut err = anstream::stderr();
            let style = output::error_style();
            let _ = writeln!(err, "{style}error:{style:#} {e:#}");
            ExitCode::from(Status::Error as u8)
        }
    }
}
