//! Landlock: the trees the command may read and execute from, those it may write to, and
//! (without network) no TCP; signals and abstract Unix sockets scoped to the sandbox where the
//! kernel can.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::{SandboxError, Spec};

/// The Landlock version whose file system rights must all be enforced: from version 3 on,
/// truncating a file is one of them (before, a read-only file could be emptied by name).
const REQUIRED: ABI = ABI::V3;
/// The newest version whose rights are asked for, where the kernel has them.
const WANTED: ABI = ABI::V6;

/// The system's read-only trees ([`Spec::system`]): programs, libraries, the dynamic loader's
/// cache, certificates, time zones, name resolution and the user database. Not `/etc` whole:
/// what else is there is no business of a server's.
const SYSTEM: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/dev/full",
];

/// Devices every program may write to.
const SYSTEM_RW: &[&str] = &["/dev/null"];

/// The rules, built while the file system is still open to this process: each path is opened
/// here, so a path given that does not exist stops the launch.
pub(crate) fn ruleset(spec: &Spec) -> Result<RulesetCreated, SandboxError> {
    let landlock = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(REQUIRED))
        .map_err(|e| {
            SandboxError::Landlock(format!(
                "{e} (Landlock {REQUIRED:?} or later is needed: Linux 6.2)"
            ))
        })?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(WANTED))
        .map_err(landlock)?;
    if !spec.network {
        // Seccomp refuses Internet sockets already; this is the second wall, for TCP.
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(landlock)?;
    }
    ruleset = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(landlock)?;
    let mut created = ruleset.create().map_err(landlock)?;
    let read = AccessFs::from_read(WANTED);
    let write = AccessFs::from_all(WANTED) & !AccessFs::Execute;
    if spec.system {
        for p in SYSTEM {
            if let Some(rule) = rule(Path::new(p), read, true)? {
                created = created.add_rule(rule).map_err(landlock)?;
            }
        }
        for p in SYSTEM_RW {
            if let Some(rule) = rule(Path::new(p), write, true)? {
                created = created.add_rule(rule).map_err(landlock)?;
            }
        }
        // Its own entries in /proc (what interpreters read about themselves), not those of
        // other processes (their environments hold secrets). The exec keeps the process id.
        let own = PathBuf::from(format!("/proc/{}", std::process::id()));
        if let Some(rule) = rule(&own, read, true)? {
            created = created.add_rule(rule).map_err(landlock)?;
        }
    }
    for p in &spec.read_only {
        if let Some(rule) = rule(p, read, false)? {
            created = created.add_rule(rule).map_err(landlock)?;
        }
    }
    for p in &spec.read_write {
        if let Some(rule) = rule(p, write, false)? {
            created = created.add_rule(rule).map_err(landlock)?;
        }
    }
    Ok(created)
}

/// The rule for `path` with `access` (narrowed to what applies to a file, for a file);
/// `None` for a missing path that may be missing.
fn rule(
    path: &Path,
    access: BitFlags<AccessFs>,
    optional: bool,
) -> Result<Option<PathBeneath<PathFd>>, SandboxError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) if optional => return Ok(None),
        Err(source) => {
            return Err(SandboxError::Path {
                path: path.to_owned(),
                source,
            });
        }
    };
    let access = if meta.is_dir() {
        access
    } else {
        access & AccessFs::from_file(WANTED)
    };
    let fd = PathFd::new(path).map_err(|e| SandboxError::Path {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(Some(PathBeneath::new(fd, access)))
}

/// Enforces the rules on this thread and what it execs. Refuses a kernel that enforced none.
pub(crate) fn restrict(created: RulesetCreated) -> Result<(), SandboxError> {
    let status = created
        .restrict_self()
        .map_err(|e| SandboxError::Landlock(e.to_string()))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(SandboxError::Landlock(
            "the kernel enforced none of the rules".to_owned(),
        ));
    }
    Ok(())
}

/// The newest Landlock version this kernel has, of those this crate knows.
pub(crate) fn probe() -> String {
    let versions = [
        ABI::V10,
        ABI::V9,
        ABI::V8,
        ABI::V7,
        ABI::V6,
        ABI::V5,
        ABI::V4,
        ABI::V3,
        ABI::V2,
        ABI::V1,
    ];
    let has = |abi: ABI| {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .and_then(Ruleset::create)
            .is_ok()
    };
    match versions.into_iter().find(|&v| has(v)) {
        Some(v) if v as i32 >= REQUIRED as i32 => format!("Landlock {v:?}: enforced"),
        Some(v) => format!("Landlock {v:?}: too old (the sandbox needs {REQUIRED:?})"),
        None => "Landlock: not available (the sandbox cannot run)".to_owned(),
    }
}
