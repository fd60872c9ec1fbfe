//! `mcpwall serve`'s latency and throughput: `tools/call` round trips with a 1 KB result over
//! Streamable HTTP through the gateway to a stdio server (`examples/echo_server`), against the
//! same server over stdio directly (this gateway has no HTTP upstreams yet, so "direct" is the
//! server's own transport).
//!
//! ```sh
//! cargo build --release -p mcpwall --bin mcpwall
//! cargo build --release -p mcpwall-gateway --examples
//! target/release/examples/http_latency target/release/mcpwall target/release/examples/echo_server [CALLS]
//! ```
//!
//! Prints: sequential calls (as fast as they go), calls paced at 1,000/s, both answered as one
//! JSON body and as an SSE stream, and throughput with 2 and 8 concurrent sessions.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: http_latency MCPWALL ECHO_SERVER [CALLS]";
    let mcpwall = args.next().ok_or(usage)?;
    let server = args.next().ok_or(usage)?;
    let calls: usize = args.next().as_deref().unwrap_or("5000").parse()?;

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("serve.toml");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "default = \"allow\"\n")?;
    std::fs::write(
        &config,
        format!(
            "max_sessions = 64\n[[upstream]]\nname = \"echo\"\ncommand = [{:?}]\n",
            server
        ),
    )?;
    let (mut gateway, addr) = start(&mcpwall, &config, &policy)?;

    let direct = stdio_times(&server, calls)?;
    print_times("stdio direct", direct.clone());
    for (name, sse) in [("http json", false), ("http sse", true)] {
        let mut c = Client::connect(&addr, sse)?;
        let t = c.times(calls, None)?;
        print_times(name, t.clone());
        added(&direct, &t);
        let t = c.times(calls.min(3000), Some(Duration::from_millis(1)))?;
        print_times(&format!("{name} 1000/s"), t.clone());
        added(&direct, &t);
    }
    for sessions in [2, 8] {
        let per = calls / sessions;
        let t = Instant::now();
        let threads: Vec<_> = (0..sessions)
            .map(|_| {
                let addr = addr.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    let mut c = Client::connect(&addr, false).map_err(|e| e.to_string())?;
                    c.times(per, None).map_err(|e| e.to_string())?;
                    Ok(())
                })
            })
            .collect();
        for th in threads {
            th.join().map_err(|_| "a client thread panicked")??;
        }
        let http = (per * sessions) as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let threads: Vec<_> = (0..sessions)
            .map(|_| {
                let server = server.clone();
                std::thread::spawn(move || {
                    stdio_times(&server, per)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for th in threads {
            th.join().map_err(|_| "a client thread panicked")??;
        }
        let direct = (per * sessions) as f64 / t.elapsed().as_secs_f64();
        println!(
            "throughput, {sessions} sessions: via mcpwall serve {http:.0} calls/s, stdio direct {direct:.0} calls/s ({:.0}%)",
            100.0 * http / direct
        );
    }
    let rss = std::fs::read_to_string(format!("/proc/{}/status", gateway.id()))?
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .map(str::to_owned)
        .unwrap_or_default();
    println!("mcpwall serve after the runs: {rss}");
    gateway.kill()?;
    gateway.wait()?;
    Ok(())
}

fn start(
    mcpwall: &str,
    config: &std::path::Path,
    policy: &std::path::Path,
) -> Res<(Child, String)> {
    let mut child = Command::new(mcpwall)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--policy")
        .arg(policy)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-pins",
            "--audit",
            "/dev/null",
        ])
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let addr = loop {
        let line = lines.next().ok_or("mcpwall serve did not start")??;
        if let Some(a) = line.strip_prefix("mcpwall serve: listening on http://") {
            break a.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, addr))
}

fn print_times(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let q = |p: f64| micros(v[((v.len() - 1) as f64 * p) as usize]);
    println!(
        "{name:18} calls {:6}  median {:7.1} µs  p90 {:7.1} µs  p99 {:7.1} µs",
        v.len(),
        q(0.5),
        q(0.9),
        q(0.99)
    );
}

fn added(direct: &[Duration], via: &[Duration]) {
    let med = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        (micros(v[v.len() / 2]), micros(v[(v.len() - 1) * 99 / 100]))
    };
    let (d, v) = (med(direct), med(via));
    println!(
        "{:18} added: median {:.1} µs, p99 {:.1} µs",
        "",
        v.0 - d.0,
        v.1 - d.1
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn call_frame(id: usize) -> String {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"read\",\"arguments\":{{\"path\":\"reports/q{}.txt\"}}}}}}",
        id % 4
    )
}

const INIT: &str = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}";

/// Round trips straight to the server over stdio.
fn stdio_times(server: &str, calls: usize) -> Res<Vec<Duration>> {
    let mut child = Command::new(server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().ok_or("no stdin")?;
    let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    let mut times = Vec::with_capacity(calls);
    for (k, frame) in std::iter::once(INIT.to_owned())
        .chain((1..calls + 200).map(call_frame))
        .enumerate()
    {
        let t = Instant::now();
        input.write_all(frame.as_bytes())?;
        input.write_all(b"\n")?;
        input.flush()?;
        line.clear();
        output.read_line(&mut line)?;
        if k >= 200 {
            times.push(t.elapsed());
        }
    }
    drop(input);
    child.wait()?;
    Ok(times)
}

/// One session over one keep-alive connection.
struct Client {
    conn: BufReader<TcpStream>,
    addr: String,
    session: String,
    sse: bool,
    next_id: usize,
}

impl Client {
    fn connect(addr: &str, sse: bool) -> Res<Client> {
        let conn = TcpStream::connect(addr)?;
        conn.set_nodelay(true)?;
        let mut c = Client {
            conn: BufReader::new(conn),
            addr: addr.to_owned(),
            session: String::new(),
            sse,
            next_id: 1,
        };
        let (headers, _) = c.post(INIT)?;
        c.session = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("mcp-session-id:")
                    .map(|v| v.trim().to_owned())
            })
            .ok_or("no session id")?;
        c.post("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}")?;
        c.post("{\"jsonrpc\":\"2.0\",\"id\":\"list\",\"method\":\"tools/list\"}")?;
        Ok(c)
    }

    /// `calls` timed round trips after 200 untimed ones, at most one per `pace`.
    fn times(&mut self, calls: usize, pace: Option<Duration>) -> Res<Vec<Duration>> {
        let mut times = Vec::with_capacity(calls);
        let mut next = Instant::now();
        for k in 0..calls + 200 {
            if let Some(p) = pace {
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
                next += p;
            }
            let frame = call_frame(self.next_id);
            self.next_id += 1;
            let t = Instant::now();
            let (_, body) = self.post(&frame)?;
            let took = t.elapsed();
            if !body.contains("\"result\"") {
                return Err(format!("unexpected answer: {body}").into());
            }
            if k >= 200 {
                times.push(took);
            }
        }
        Ok(times)
    }

    fn post(&mut self, body: &str) -> Res<(String, String)> {
        let accept = if self.sse {
            "application/json, text/event-stream"
        } else {
            "application/json"
        };
        let session = if self.session.is_empty() {
            String::new()
        } else {
            format!("Mcp-Session-Id: {}\r\n", self.session)
        };
        let req = format!(
            "POST /mcp/echo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: {accept}\r\n{session}Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.conn.get_mut().write_all(req.as_bytes())?;
        let mut headers = String::new();
        loop {
            let mut line = String::new();
            if self.conn.read_line(&mut line)? == 0 {
                return Err("connection closed".into());
            }
            if line == "\r\n" {
                break;
            }
            headers.push_str(&line.to_ascii_lowercase());
        }
        let mut out = Vec::new();
        if let Some(len) = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
        {
            out.resize(len.trim().parse()?, 0);
            self.conn.read_exact(&mut out)?;
        } else if headers.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                self.conn.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16)?;
                let mut chunk = vec![0; n + 2];
                self.conn.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        }
        Ok((headers, String::from_utf8_lossy(&out).into_owned()))
    }
}
