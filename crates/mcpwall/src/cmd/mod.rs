//! Command implementations.

mod analyze;
mod audit;
mod demo_server;
mod eval;
mod fs;
mod install;
mod pins;
mod policy;
mod rules;
mod run;
mod sandbox;
mod scan;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mcpwall_detect::Engine;

use crate::Status;
use crate::cli::{Cli, Command};

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let status: Status = match cli.command {
        Command::Analyze(args) => analyze::run(args)?,
        Command::Eval(args) => eval::run(args)?,
        Command::Scan(args) => scan::run(args)?,
        Command::Install(args) => install::run(args, false)?,
        Command::Uninstall(args) => install::run(args, true)?,
        Command::Rules(args) => rules::run(args)?,
        Command::Run(args) => return run::run(args),
        Command::Sandbox(args) => return sandbox::run(args),
        Command::Fs(args) => return fs::run(args),
        Command::Pins(args) => pins::run(args)?,
        Command::Audit(args) => audit::run(args)?,
        Command::Policy(args) => policy::run(args)?,
        Command::Serve(args) => {
            serve::run(args)?;
            Status::Clean
        }
        Command::DemoServer => {
            demo_server::run()?;
            Status::Clean
        }
    };
    Ok(ExitCode::from(status as u8))
}

/// The engine with the built-in rules and the user's rule directories.
pub(crate) fn engine(dirs: &[PathBuf]) -> anyhow::Result<Engine> {
    let mut b = Engine::builder();
    for d in dirs {
        b = b
            .rules_dir(d)
            .with_context(|| format!("cannot load rules from {}", d.display()))?;
    }
    b.build().context("cannot compile the detection rules")
}
