//! `mcpwall`: a security firewall for the Model Context Protocol.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod input;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

// Compiling the rules allocates and frees hundreds of thousands of small syntax-tree nodes:
// with glibc's allocator that was 42% of start-up. mimalloc takes it from 55 to 40 ms (bench
// `engine_build`) and scans a little faster. Its v2 line, because v3 kept 18 to 55 MB more
// resident (`analyze` of 1 MB: 36 MB with v2, 50 MB with v3, 31 MB with glibc). Its `secure`
// mode (guard pages, encrypted free lists) is off: start-up got slower than glibc's (63 ms),
// and every allocation here comes from safe Rust. `no_thp` stops it asking for transparent huge
// pages: it returns freed memory to the system and faulted it back in 2 MB at a time, which was
// 15% of `analyze --jsonl` on the dev corpus (1.19-1.25 s -> 1.03-1.06 s for 32,515 records).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let style = output::error_style();
            let _ = writeln!(err, "{style}error:{style:#} {e:#}");
            ExitCode::from(Status::Error as u8)
        }
    }
}
