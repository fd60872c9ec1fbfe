//! Processes a server leaves behind. Killing a server's process group ends what it started,
//! except what it started in a session of its own (`setsid`), which leaves the group. With the
//! scanner a child subreaper ([`adopt`]), such orphans become its children instead of init's,
//! and [`sweep`] ends them once every server is done.

/// Makes this process the one orphans of its descendants are given to (Linux; elsewhere
/// nothing). Returns whether it is.
pub fn adopt() -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Kills every child this process still has and reaps them; returns how many were running.
/// Call it only when no child is meant to be running (every server stopped): it waits for any
/// child, which would take the exit status of one that something else still waits for.
pub fn sweep() -> usize {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Signal, WaitOptions, kill_process, waitpid};
        let mut killed = 0;
        // A child killed may have started others an instant before: they come to us too.
        for _ in 0..50 {
            let running = children();
            for &pid in &running {
                if kill_process(pid, Signal::KILL).is_ok() {
                    killed += 1;
                }
            }
            while let Ok(Some(_)) = waitpid(None, WaitOptions::NOHANG) {}
            if running.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        killed
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// This process's children that are not zombies, from `/proc`.
#[cfg(target_os = "linux")]
fn children() -> Vec<rustix::process::Pid> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`; the name may hold `)`.
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let ppid: i32 = fields.next()?.parse().ok()?;
            (ppid == me && state != "Z")
                .then(|| rustix::process::Pid::from_raw(pid))
                .flatten()
        })
        .collect()
}
