//! An upstream stdio server started for one HTTP session: its process, and its frames.

use std::collections::BTreeSet;
use std::io;
use std::process::Stdio;
use std::sync::Mutex;

use mcpwall_protocol::{Frame, FrameSplitter};
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{Upstream, lock};
use crate::GatewayError;
use mcpwall_sandbox::reaper::Reaper;

/// The servers started and not yet known to be collected (their process ids): mcpwall's
/// children that are not orphans handed to it. Held while a server starts, so that a look for
/// orphans never takes a server just started for one.
static SERVERS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A started server: its pipes, and its process group (the server and whatever it starts).
pub(super) struct Started {
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: ChildStdout,
    pub(super) group: Option<Pid>,
}

/// Starts `upstream`'s command in a process group of its own, without the variables in
/// `scrub`; its standard error is mcpwall's.
pub(super) fn start(upstream: &Upstream, scrub: &[String]) -> Result<Started, GatewayError> {
    let mut cmd = Command::new(&upstream.command);
    for var in scrub {
        cmd.env_remove(var);
    }
    cmd.args(&upstream.args)
        .envs(upstream.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &upstream.cwd {
        cmd.current_dir(dir);
    }
    let mut servers = lock(&SERVERS);
    let mut child = cmd.spawn().map_err(|source| GatewayError::Spawn {
        command: upstream.command.to_string_lossy().into_owned(),
        source,
    })?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    if let Some(g) = group {
        servers.insert(g.as_raw_nonzero().get());
    }
    drop(servers);
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        kill_group(group);
        return Err(GatewayError::Io {
            what: "connecting to the server's standard input and output",
            source: io::Error::other("a pipe is missing"),
        });
    };
    Ok(Started {
        child,
        stdin,
        stdout,
        group,
    })
}

/// Kills the server and everything it started.
pub(super) fn kill_group(group: Option<Pid>) {
    if let Some(g) = group {
        let _ = kill_process_group(g, Signal::KILL);
    }
}

/// Orphans handed to mcpwall (what a server's descendants left running outside its group as
/// their parent exited): their exits are collected, and with `kill` those still running are
/// killed; returns how many were killed. The servers themselves are left to the code that
/// started them. Blocks (reads `/proc`, waits for what it kills): not on an async worker.
pub(super) fn tend_orphans(reaper: &Reaper, kill: bool) -> usize {
    if !reaper.is_active() {
        return 0;
    }
    let mut servers = lock(&SERVERS);
    let children = reaper.children();
    servers.retain(|pid| children.iter().any(|c| c.pid == *pid));
    if kill {
        reaper.sweep_except(|pid| servers.contains(&pid))
    } else {
        reaper.collect_ended(|pid| servers.contains(&pid));
        0
    }
}

/// A server's output, read frame by frame.
pub(super) struct ServerOut {
    reader: BufReader<ChildStdout>,
    splitter: FrameSplitter,
}

impl ServerOut {
    pub(super) fn new(stdout: ChildStdout, max: usize) -> Self {
        ServerOut {
            reader: BufReader::new(stdout),
            splitter: FrameSplitter::new(max),
        }
    }

    /// The next frame; `None` once the server closed its output.
    pub(super) async fn next(&mut self) -> Option<Frame> {
        next_frame(&mut self.reader, &mut self.splitter)
            .await
            .ok()
            .flatten()
    }
}

/// The next frame from an async reader, as [`mcpwall_protocol::FrameReader`] reads them.
async fn next_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    splitter: &mut FrameSplitter,
) -> io::Result<Option<Frame>> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(splitter.finish());
        }
        let (used, frame) = splitter.feed(chunk);
        reader.consume(used);
        if frame.is_some() {
            return Ok(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_cross_buffer_edges_and_are_capped() {
        let input: &[u8] = b"{\"a\":1}\r\n\n0123456789\n{\"b\":2}";
        let mut reader = tokio::io::BufReader::with_capacity(3, input);
        let mut splitter = FrameSplitter::new(8);
        let mut out = Vec::new();
        while let Some(f) = next_frame(&mut reader, &mut splitter).await.unwrap() {
            out.push(f);
        }
        assert_eq!(
            out,
            vec![
                Frame::Data(b"{\"a\":1}".to_vec()),
                Frame::Oversize {
                    len: 10,
                    head: b"0123456789".to_vec(),
                    tail: b"0123456789".to_vec()
                },
                Frame::Data(b"{\"b\":2}".to_vec()),
            ]
        );
    }
}
