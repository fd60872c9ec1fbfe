//! `mcpwall policy check`, and the one loader of policy files.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use mcpwall_policy::Policy;

use crate::Status;
use crate::cli::{PolicyArgs, PolicyCommand};

pub(crate) fn run(args: PolicyArgs) -> anyhow::Result<Status> {
    let PolicyCommand::Check { file } = args.command;
    let policy = load(&file)?;
    writeln!(
        anstream::stdout(),
        "{}: valid, {} rule(s), calls no rule matches are {}",
        file.display(),
        policy.len(),
        if policy.default_denies() {
            "denied"
        } else {
            "allowed"
        }
    )?;
    Ok(Status::Clean)
}

/// Reads and checks a policy file.
pub(crate) fn load(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy {}", path.display()))?;
    Policy::parse(&text).with_context(|| format!("{} is not a valid policy", path.display()))
}
