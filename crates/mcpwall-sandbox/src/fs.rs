//! Landlock: the trees the command may read and execute from, those it may write to, and
//! (without network) no TCP; signals and abstract Unix sockets scoped to the sandbox where the
//! kernel can.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};
use rustix::fs::{Mode, OFlags, ResolveFlags};

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

/// Entries of its own `/proc/PID` a program may read (what the C library and interpreters read
/// about themselves: the main thread's stack in `maps`, memory in `statm`, limits, its
/// descriptors). Not `net/` (it lists every Unix socket path of the machine) nor `task/`
/// (which holds `net/` again).
const OWN_PROC: &[&str] = &[
    "status", "stat", "statm", "maps", "limits", "cmdline", "environ", "auxv", "cgroup", "fd",
    "fdinfo",
];

/// A rule's handle: the path opened without following symlinks for the trees a person gives
/// (one a confined program could have planted would widen the grant), following them for the
/// system's own (`/lib64` is one on most systems).
type Handle = std::os::fd::OwnedFd;

/// The rules, built while the file system is still open to this process: each path is opened
/// here, once, so a path given that does not exist, or that goes through a symlink, stops the
/// launch.
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
    // No device nodes either: a process with the capability (root's) would make one for the
    // disk in a writable tree and read around every rule.
    let write = AccessFs::from_all(WANTED)
        & !AccessFs::Execute
        & !AccessFs::MakeChar
        & !AccessFs::MakeBlock;
    let mut rules: Vec<(Handle, BitFlags<AccessFs>)> = Vec::new();
    if spec.system {
        for p in SYSTEM {
            rules.extend(system(p)?.map(|h| (h, read)));
        }
        for p in SYSTEM_RW {
            rules.extend(system(p)?.map(|h| (h, write)));
        }
        // Its own entries in /proc, not those of other processes (their environments hold
        // secrets). The exec keeps the process id; its children's entries stay closed.
        for entry in OWN_PROC {
            let p = format!("/proc/{}/{entry}", std::process::id());
            rules.extend(system(&p)?.map(|h| (h, read)));
        }
    }
    for p in &spec.read_only {
        rules.push((given(p)?, read));
    }
    for p in &spec.read_write {
        rules.push((given(p)?, write));
    }
    for (handle, access) in rules {
        // A file gets the rights that apply to files.
        let is_dir = rustix::fs::fstat(&handle)
            .map(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            })
            .unwrap_or(false);
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(WANTED)
        };
        created = created
            .add_rule(PathBeneath::new(handle, access))
            .map_err(landlock)?;
    }
    Ok(created)
}

/// A system path, following symlinks; `None` when this machine has none.
fn system(path: &str) -> Result<Option<Handle>, SandboxError> {
    match rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(None),
        Err(e) => Err(SandboxError::Path {
            path: PathBuf::from(path),
            source: e.into(),
        }),
    }
}

/// A path a person gave: it must exist and be reached without symlinks.
fn given(path: &Path) -> Result<Handle, SandboxError> {
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| {
        let mut source: std::io::Error = e.into();
        if e == rustix::io::Errno::LOOP {
            let real = std::fs::canonicalize(path)
                .map(|r| format!("; give its real path, {}", r.display()))
                .unwrap_or_default();
            source = std::io::Error::other(format!(
                "it is reached through a symlink, which a confined program could have \
                     planted{real}"
            ));
        }
        SandboxError::Path {
            path: path.to_owned(),
            source,
        }
    })
}

/// Enforces the rules on this thread and what it execs. Refuses a kernel that enforced none;
/// says whether all were (those of later Landlock versions, like signal scoping, may be
/// missing on an older kernel).
pub(crate) fn restrict(created: RulesetCreated) -> Result<bool, SandboxError> {
    let status = created
        .restrict_self()
        .map_err(|e| SandboxError::Landlock(e.to_string()))?;
    match status.ruleset {
        RulesetStatus::NotEnforced => Err(SandboxError::Landlock(
            "the kernel enforced none of the rules".to_owned(),
        )),
        RulesetStatus::FullyEnforced => Ok(true),
        RulesetStatus::PartiallyEnforced => Ok(false),
    }
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
