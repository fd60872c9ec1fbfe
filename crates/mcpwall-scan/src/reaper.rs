//! Processes a server leaves behind. Killing a server's process group ends what it started,
//! except what it started in a session of its own (`setsid`), which leaves the group. With the
//! scanner a child subreaper ([`Reaper::adopt`]), such orphans become its children instead of
//! init's, and [`Reaper::sweep`] ends them once every server is done.

/// A child process: its id and when it started (ids are reused; the pair is not).
type Child = (i32, u64);

/// The scanner as the parent of what its servers leave behind.
#[derive(Debug, Default)]
pub struct Reaper {
    /// Children this process had before: not the servers' (a shell's job that survived the
    /// `exec` of mcpwall, say), never touched.
    before: Vec<Child>,
}

impl Reaper {
    /// Makes this process the one orphans of its descendants are given to (Linux; elsewhere
    /// nothing is done, and [`Reaper::sweep`] does nothing either).
    pub fn adopt() -> Reaper {
        #[cfg(target_os = "linux")]
        {
            if rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok() {
                return Reaper { before: children() };
            }
        }
        Reaper::default()
    }

    /// Kills every child this process has gained since [`Reaper::adopt`] and reaps it; returns
    /// how many there were. Call it only when no child is meant to be running (every server
    /// stopped and waited for).
    pub fn sweep(&self) -> usize {
        #[cfg(target_os = "linux")]
        {
            use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
            let mut killed = std::collections::BTreeSet::new();
            // A child killed may have started others an instant before: they come here too.
            for _ in 0..50 {
                let running: Vec<Child> = children()
                    .into_iter()
                    .filter(|c| !self.before.contains(c))
                    .collect();
                for &(pid, start) in &running {
                    if let Some(p) = Pid::from_raw(pid)
                        && kill_process(p, Signal::KILL).is_ok()
                    {
                        killed.insert((pid, start));
                    }
                }
                for &(pid, _) in &running {
                    if let Some(p) = Pid::from_raw(pid) {
                        let _ = waitpid(Some(p), WaitOptions::empty());
                    }
                }
                // Orphans that ended on their own while the servers ran.
                while let Ok(Some(_)) = waitpid(None, WaitOptions::NOHANG) {}
                if running.is_empty() {
                    break;
                }
            }
            killed.len()
        }
        #[cfg(not(target_os = "linux"))]
        {
            0
        }
    }
}

/// This process's children that are not zombies, from `/proc`.
#[cfg(target_os = "linux")]
fn children() -> Vec<Child> {
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
            (ppid == me && *fields.first()? != "Z").then_some((pid, start))
        })
        .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn children_are_read_from_proc() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        let found = children();
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|c| c.0 == pid), "{found:?}");
    }
}
