//! Processes that servers leave behind. Killing a server's process group ends what it started,
//! except what it started in a session of its own (`setsid`, a daemon's double fork), which
//! leaves the group. With mcpwall a child subreaper ([`Reaper::adopt`]), such a process whose
//! parent exits becomes mcpwall's child instead of init's: mcpwall collects its exit when it
//! ends ([`Reaper::collect_ended`], so that orphans do not pile up as zombies) and kills it when
//! the servers are done ([`Reaper::sweep`]).
//!
//! A child's number stays its own until its parent collects its exit, so the children found in
//! `/proc` can be signalled and collected without hitting another process that took the number.

/// A child process as `/proc` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offspring {
    pub pid: i32,
    /// When it started, in clock ticks after boot: ids are reused, the pair is not.
    start: u64,
    /// It has exited; its exit is not collected yet.
    pub ended: bool,
}

/// mcpwall as the parent of what its servers leave behind.
#[derive(Debug, Default)]
pub struct Reaper {
    /// Whether this process is a subreaper (Linux, and the call succeeded).
    active: bool,
    /// Children this process had before: not the servers' (a shell's job that survived the
    /// `exec` of mcpwall, say), never touched.
    before: Vec<(i32, u64)>,
}

impl Reaper {
    /// Makes this process the one orphans of its descendants are given to (Linux; elsewhere
    /// nothing is done, and the other methods do nothing either).
    pub fn adopt() -> Reaper {
        #[cfg(target_os = "linux")]
        {
            if rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok() {
                return Reaper {
                    active: true,
                    before: children().iter().map(|c| (c.pid, c.start)).collect(),
                };
            }
        }
        Reaper::default()
    }

    /// Whether orphans come to this process.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// This process's children since [`Reaper::adopt`]: the servers it started and the orphans
    /// it was given, running or ended.
    pub fn children(&self) -> Vec<Offspring> {
        if !self.active {
            return Vec::new();
        }
        children()
            .into_iter()
            .filter(|c| !self.before.contains(&(c.pid, c.start)))
            .collect()
    }

    /// Collects the exit of every child that ended, except those `keep` names (the servers,
    /// whose exits the code that started them collects); returns how many. Kills nothing.
    pub fn collect_ended(&self, keep: impl Fn(i32) -> bool) -> usize {
        let ended: Vec<Offspring> = self
            .children()
            .into_iter()
            .filter(|c| c.ended && !keep(c.pid))
            .collect();
        for c in &ended {
            collect(c.pid, false);
        }
        ended.len()
    }

    /// Kills and collects every child except those `keep` names, again for those the killed
    /// ones hand over in turn; returns how many were running. Call it when no child but those
    /// kept is meant to be running.
    pub fn sweep_except(&self, keep: impl Fn(i32) -> bool) -> usize {
        #[cfg(target_os = "linux")]
        {
            use rustix::process::{Pid, Signal, kill_process};
            let mut killed = std::collections::BTreeSet::new();
            // A child killed may have started others an instant before: they come here too.
            // Bounded: a fork loop must not keep mcpwall here.
            for _ in 0..50 {
                let found: Vec<Offspring> = self
                    .children()
                    .into_iter()
                    .filter(|c| !keep(c.pid))
                    .collect();
                if found.is_empty() {
                    break;
                }
                for c in found.iter().filter(|c| !c.ended) {
                    if let Some(p) = Pid::from_raw(c.pid)
                        && kill_process(p, Signal::KILL).is_ok()
                    {
                        killed.insert((c.pid, c.start));
                    }
                }
                for c in &found {
                    collect(c.pid, true);
                }
            }
            killed.len()
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = keep;
            0
        }
    }

    /// [`Reaper::sweep_except`] with nothing kept: once every server is stopped and its exit
    /// collected.
    pub fn sweep(&self) -> usize {
        self.sweep_except(|_| false)
    }
}

/// Collects a child's exit; waits for it only when `wait` (after SIGKILL it comes at once,
/// except for a process stuck in the kernel).
fn collect(pid: i32, wait: bool) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Pid, WaitOptions, waitpid};
        let options = if wait {
            WaitOptions::empty()
        } else {
            WaitOptions::NOHANG
        };
        if let Some(p) = Pid::from_raw(pid) {
            let _ = waitpid(Some(p), options);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (pid, wait);
}

/// This process's children, from `/proc`.
#[cfg(target_os = "linux")]
fn children() -> Vec<Offspring> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`, the start time 20th after the name (which may
            // hold `)`).
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let ppid: i32 = fields.get(1)?.parse().ok()?;
            let start: u64 = fields.get(19)?.parse().ok()?;
            let ended = matches!(*fields.first()?, "Z" | "X");
            (ppid == me).then_some(Offspring { pid, start, ended })
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn children() -> Vec<Offspring> {
    Vec::new()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn children_are_read_from_proc_running_and_ended() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        let running = children();
        let _ = child.kill();
        // Killed, not yet collected: listed as ended.
        let mut ended = Vec::new();
        for _ in 0..200 {
            ended = children();
            if ended.iter().any(|c| c.pid == pid && c.ended) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.wait();
        assert!(
            running.iter().any(|c| c.pid == pid && !c.ended),
            "{running:?}"
        );
        assert!(ended.iter().any(|c| c.pid == pid && c.ended), "{ended:?}");
        assert!(!children().iter().any(|c| c.pid == pid));
    }
}
