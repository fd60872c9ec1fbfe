//! Resource limits. Each is set as both the soft and the hard limit, so that the command
//! cannot raise it again.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::{Limits, SandboxError};

pub(crate) fn apply(l: &Limits) -> Result<(), SandboxError> {
    // The process limit counts every process of the user: the command gets so many more than
    // run now.
    let processes = l.processes.map(|n| n.saturating_add(user_processes()));
    let wanted = [
        ("memory", Resource::Data, l.memory),
        ("process", Resource::Nproc, processes),
        ("file size", Resource::Fsize, l.file_size),
        ("CPU time", Resource::Cpu, l.cpu_seconds),
        ("open files", Resource::Nofile, l.open_files),
        // A core dump would write the command's memory (its tokens) to disk.
        ("core dump", Resource::Core, Some(0)),
    ];
    for (what, resource, value) in wanted {
        let Some(value) = value else { continue };
        // Never above the caller's own hard limit: raising it needs a privilege.
        let hard = getrlimit(resource).maximum;
        let value = hard.map_or(value, |h| value.min(h));
        let limit = Rlimit {
            current: Some(value),
            maximum: Some(value),
        };
        setrlimit(resource, limit).map_err(|e| SandboxError::Limit {
            what,
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Processes (and threads) of this process's real user, as `/proc` shows them.
fn user_processes() -> u64 {
    let uid = rustix::process::getuid();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0u64;
    for entry in dir.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(1);
        if real == Some(uid.as_raw()) {
            n += threads;
        }
    }
    n
}
