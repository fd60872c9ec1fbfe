//! `mcpwall sandbox`: runs a command confined (see `mcpwall-sandbox`).

use std::io::Write as _;
use std::process::ExitCode;

use std::ffi::{OsStr, OsString};
use std::path::Path;

use anyhow::{Context as _, bail};
use mcpwall_policy::SandboxSettings;
use mcpwall_sandbox::{Limits, SandboxError, Spec};

use crate::cli::{Net, SandboxArgs};

/// The sandbox could not be set up: the command did not run.
const SETUP_FAILED: u8 = 125;
/// The command exists but cannot be executed (as a shell says).
const NOT_EXECUTABLE: u8 = 126;
/// No such command.
const NOT_FOUND: u8 = 127;

pub(crate) fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    if args.probe {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", mcpwall_sandbox::probe())?;
        return Ok(ExitCode::SUCCESS);
    }
    let limits = parse_limits(&args.limits)?;
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no command given (after --)");
    };
    let spec = Spec {
        read_only: args.read_only,
        read_write: args.read_write,
        system: !args.no_system,
        network: args.net == Net::Allow,
        unix: args.unix == Net::Allow,
        limits,
        keep_env: args.env,
        allow_degraded: args.allow_degraded,
    };
    // Returns only when the command could not be started.
    let mut notice = |text: &str| {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "mcpwall sandbox: warning: {text}");
    };
    let e = mcpwall_sandbox::exec(&spec, program, rest, &mut notice);
    let code = match &e {
        SandboxError::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            NOT_FOUND
        }
        SandboxError::Exec { .. } => NOT_EXECUTABLE,
        _ => SETUP_FAILED,
    };
    let mut err = anstream::stderr();
    let style = crate::output::error_style();
    let _ = writeln!(err, "{style}error:{style:#} mcpwall sandbox: {e}");
    Ok(ExitCode::from(code))
}

/// The command line that starts `program args` confined as a policy's `[server.sandbox]`
/// says: this binary's `sandbox` command in front. `also_env`: more variables to pass on (those
/// a `serve` upstream sets for its server).
pub(crate) fn wrap(
    s: &SandboxSettings,
    program: &OsStr,
    args: &[OsString],
    also_env: &[String],
) -> anyhow::Result<(OsString, Vec<OsString>)> {
    let exe = std::env::current_exe()
        .context("cannot find the mcpwall binary, to start the server in its sandbox")?;
    let home = std::env::var_os("HOME");
    let expand = |p: &str| -> anyhow::Result<OsString> {
        match p.strip_prefix("~/") {
            Some(rest) => {
                let home = home
                    .as_ref()
                    .with_context(|| format!("sandbox path {p:?}: HOME is not set"))?;
                Ok(Path::new(home).join(rest).into_os_string())
            }
            None => Ok(p.into()),
        }
    };
    let mut out: Vec<OsString> = vec!["sandbox".into()];
    for (flag, paths) in [("--ro", &s.read_only), ("--rw", &s.read_write)] {
        for p in paths {
            out.push(flag.into());
            out.push(expand(p)?);
        }
    }
    out.push("--net".into());
    out.push(if s.network { "allow" } else { "none" }.into());
    out.push("--unix".into());
    out.push(if s.unix { "allow" } else { "none" }.into());
    if !s.system {
        out.push("--no-system".into());
    }
    for e in s.env.iter().chain(also_env) {
        out.push("--env".into());
        out.push(e.into());
    }
    for (k, v) in &s.limits {
        out.push("--limit".into());
        out.push(format!("{k}={v}").into());
    }
    out.push("--".into());
    out.push(program.to_owned());
    out.extend(args.iter().cloned());
    Ok((exe.into_os_string(), out))
}

/// `KEY=VALUE` limits over the defaults.
fn parse_limits(given: &[String]) -> anyhow::Result<Limits> {
    let mut l = Limits::default();
    for item in given {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("--limit {item:?}: expected KEY=VALUE"))?;
        let slot = match key {
            "memory" => &mut l.memory,
            "processes" => &mut l.processes,
            "file-size" => &mut l.file_size,
            "cpu" => &mut l.cpu_seconds,
            "open-files" => &mut l.open_files,
            _ => bail!(
                "--limit {item:?}: unknown limit {key:?} (memory, processes, file-size, cpu, open-files)"
            ),
        };
        let bytes = matches!(key, "memory" | "file-size");
        *slot = if value == "none" {
            None
        } else {
            Some(number(value, bytes).with_context(|| {
                format!(
                    "--limit {item:?}: not a number{}",
                    if bytes { " of bytes (512M, 4G)" } else { "" }
                )
            })?)
        };
    }
    Ok(l)
}

/// A count, or with `bytes` a size with an optional K, M, G or T suffix (powers of 1,024).
fn number(text: &str, bytes: bool) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if bytes && c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return None,
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_over_the_defaults() {
        let l = parse_limits(&[
            "memory=512M".into(),
            "cpu=60".into(),
            "open-files=none".into(),
        ])
        .expect("valid");
        assert_eq!(l.memory, Some(512 << 20));
        assert_eq!(l.cpu_seconds, Some(60));
        assert_eq!(l.open_files, None);
        assert_eq!(l.file_size, Limits::default().file_size);
        for bad in [
            "memory",
            "memory=",
            "memory=1X",
            "cpu=1G",
            "disk=1",
            "memory=-1",
            "memory=99999999999T",
        ] {
            assert!(parse_limits(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
