//! Seccomp: the system calls refused to a sandboxed command. A deny-list, since interpreters
//! use hundreds of calls that differ by version; what it holds has no place in an MCP server:
//! tracing and reading other processes, mounts and namespaces (new views of the system),
//! io_uring (whose operations seccomp cannot see) and bpf, kernel modules and keyrings, typing
//! into the terminal it inherited (`TIOCSTI`), and sockets of every family but those allowed
//! (an allow-list: Internet and netlink with network, Unix when asked; Unix sockets reach the
//! user's session bus, which starts programs outside any sandbox; without them, datagram
//! socket pairs too, which can be pointed at any named socket), System V IPC (which Landlock
//! does not cover) and taking other processes' descriptors. Refused calls fail with `EPERM`;
//! the process goes on.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::SandboxError;

/// Refused whatever their arguments.
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_open_by_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_adjtimex,
    libc::SYS_clock_adjtime,
    // Taking another process's descriptors, or comparing them (`--allow-degraded` leaves
    // only the kernel's ptrace setting between the command and its parent's).
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    // System V IPC: Landlock does not cover it, so shared memory, queues and semaphores are
    // the user's other processes' (and another sandboxed server's: a channel around
    // `network = false`).
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
];

/// Unix socket types of a `socketpair` that can still send to a named socket elsewhere
/// (`sendto` with an address, or `connect` again): refused without Unix sockets.
const ADDRESSED_TYPES: &[libc::c_int] = &[
    libc::SOCK_DGRAM,
    libc::SOCK_RAW,
    libc::SOCK_RDM,
    // SOCK_PACKET (deprecated in `libc`, still a type the kernel takes).
    10,
];

/// The type bits of `socket`'s and `socketpair`'s type argument (without the flags).
const SOCK_TYPE_MASK: u64 = 0xf;

/// `clone` flags that make new namespaces.
const NEW_NAMESPACES: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWCGROUP,
];

/// Socket families opened with network.
const INTERNET: &[libc::c_int] = &[libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK];

/// Terminal requests that put input into a terminal (its owner's shell runs it) or reach the
/// console.
const TTY_INPUT: &[u64] = &[libc::TIOCSTI, libc::TIOCLINUX];

/// The compiled filters, installed by [`install`]: built before the file system closes (the
/// compiler allocates; nothing else needs it).
pub(crate) struct Filters(Vec<BpfProgram>);

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filters({} programs)", self.0.len())
    }
}

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| SandboxError::Seccomp(format!("no filter for {}", std::env::consts::ARCH)))
}

fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, SandboxError> {
    let bad = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(bad)?;
    SeccompRule::new(vec![cond]).map_err(bad)
}

pub(crate) fn filters(network: bool, unix: bool) -> Result<Filters, SandboxError> {
    filters_for(network, unix, true)
}

/// [`filters`], and with `exec` false, no `execve` or `execveat` either (a server that has no
/// program to run).
pub(crate) fn filters_for(network: bool, unix: bool, exec: bool) -> Result<Filters, SandboxError> {
    let bad = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let arch = arch()?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    // A `clone` that asks for a namespace: one rule per flag, any of them matches.
    let clone = NEW_NAMESPACES
        .iter()
        .map(|&flag| {
            let flag = u64::from(flag.unsigned_abs());
            rule(0, SeccompCmpOp::MaskedEq(flag), flag)
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone);
    if !exec {
        rules.insert(libc::SYS_execve, Vec::new());
        rules.insert(libc::SYS_execveat, Vec::new());
    }
    // `socket` of a family not allowed: one rule, all its conditions (not this family, not
    // that one) together; with none allowed, every `socket`.
    let mut allowed: Vec<libc::c_int> = Vec::new();
    if network {
        allowed.extend(INTERNET);
    }
    if unix {
        allowed.push(libc::AF_UNIX);
    }
    let others = allowed
        .iter()
        .map(|&f| {
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Ne,
                u64::from(f.unsigned_abs()),
            )
            .map_err(bad)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let socket = if others.is_empty() {
        Vec::new()
    } else {
        vec![SeccompRule::new(others).map_err(bad)?]
    };
    rules.insert(libc::SYS_socket, socket);
    if !unix {
        // A pair of datagram sockets is a Unix socket all the same: any rule matches.
        let pairs = ADDRESSED_TYPES
            .iter()
            .map(|&t| {
                rule(
                    1,
                    SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK),
                    u64::from(t.unsigned_abs()),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_socketpair, pairs);
    }
    // The request number is 32 bits wide for the kernel, whatever the register holds.
    let tty = TTY_INPUT
        .iter()
        .map(|&request| rule(1, SeccompCmpOp::Eq, request))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_ioctl, tty);
    let eperm = SeccompAction::Errno(libc::EPERM.unsigned_abs());
    let denied = SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch).map_err(bad)?;
    let denied: BpfProgram = denied.try_into().map_err(bad)?;
    // `clone3` passes its flags in memory, where seccomp cannot look: it is refused as if the
    // kernel had none, and the C library falls back to `clone`, whose flags are checked.
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let enosys = SeccompAction::Errno(libc::ENOSYS.unsigned_abs());
    let clone3 = SeccompFilter::new(clone3, SeccompAction::Allow, enosys, arch).map_err(bad)?;
    let clone3: BpfProgram = clone3.try_into().map_err(bad)?;
    let mut programs = vec![denied, clone3];
    #[cfg(target_arch = "x86_64")]
    programs.push(x32_guard());
    Ok(Filters(programs))
}

/// On x86-64 the same calls have other numbers in the x32 ABI (with bit 30 set), which the
/// deny-list does not name: every call so numbered is refused.
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
        SECCOMP_RET_ERRNO,
    };
    use seccompiler::sock_filter;
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const X32_BIT: u32 = 0x4000_0000;
    // Offsets in `struct seccomp_data`: the call's number, then its architecture.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code: u32| u16::try_from(code).unwrap_or(u16::MAX);
    let stmt = |code: u32, k: u32| sock_filter {
        code: op(code),
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: op(code),
        jt,
        jf,
        k,
    };
    vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, ARCH),
        // Not x86-64: not this filter's business (the deny-list filter kills other
        // architectures' calls).
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
        stmt(BPF_LD | BPF_W | BPF_ABS, NR),
        jump(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            SECCOMP_RET_ERRNO | libc::EPERM.unsigned_abs(),
        ),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filters on this thread (and what it execs). `no_new_privs` must be set.
pub(crate) fn install(filters: &Filters) -> Result<(), SandboxError> {
    for program in &filters.0 {
        seccompiler::apply_filter(program).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    }
    Ok(())
}
