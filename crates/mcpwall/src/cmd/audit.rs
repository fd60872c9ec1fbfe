//! `mcpwall audit verify`: check an audit file's hash chain.

use std::fs::File;
use std::io::{BufReader, Write as _};

use anyhow::Context as _;
use mcpwall_gateway::audit;

use crate::Status;
use crate::cli::{AuditArgs, AuditCommand};

pub(crate) fn run(args: AuditArgs) -> anyhow::Result<Status> {
    let AuditCommand::Verify { file } = args.command;
    let f = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let v = audit::verify(BufReader::new(f))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = anstream::stdout();
    match v.broken {
        None => {
            writeln!(
                out,
                "{}: {} records, chain intact",
                file.display(),
                v.records
            )?;
            Ok(Status::Clean)
        }
        Some((line, why)) => {
            writeln!(
                out,
                "{}: chain broken at line {line} ({} intact records before it): {why}",
                file.display(),
                v.records
            )?;
            Ok(Status::Findings)
        }
    }
}
