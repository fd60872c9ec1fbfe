//! `mcpwall audit verify`: check an audit file's hash chain.

use std::fs::File;
use std::io::{BufReader, Write as _};

use anyhow::Context as _;
use mcpwall_gateway::audit;

use crate::Status;
use crate::cli::{AuditArgs, AuditCommand};

pub(crate) fn run(args: AuditArgs) -> anyhow::Result<Status> {
    let AuditCommand::Verify { file, head } = args.command;
    let open = || File::open(&file).with_context(|| format!("cannot open {}", file.display()));
    let v = audit::verify(BufReader::new(open()?))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = anstream::stdout();
    if let Some((line, why)) = &v.broken {
        let more = match v.breaks {
            0 | 1 => String::new(),
            n => format!(" ({} more breaks after it)", n - 1),
        };
        writeln!(
            out,
            "{}: chain broken at line {line} ({} intact records before it): {why}{more}",
            file.display(),
            v.records
        )?;
        return Ok(Status::Findings);
    }
    if let Some(h) = head {
        let h = h.trim().to_ascii_lowercase();
        let held = audit::holds(BufReader::new(open()?), &h, v.records)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if !held {
            writeln!(
                out,
                "{}: {} records, chain intact, but the record {h} is not in it: records were \
                 cut from the end (or this is another file)",
                file.display(),
                v.records
            )?;
            return Ok(Status::Findings);
        }
    }
    writeln!(
        out,
        "{}: {} records, chain intact; head {}",
        file.display(),
        v.records,
        v.head
    )?;
    Ok(Status::Clean)
}
