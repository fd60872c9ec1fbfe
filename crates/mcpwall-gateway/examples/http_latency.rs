//! `mcpwall serve`'s latency and throughput: `tools/call` round trips with a 1 KB result over
//! Streamable HTTP through the gateway to a stdio server (`examples/echo_server`), against the
//! same server straight over HTTP (`echo_server --http`) and over stdio. Through the gateway the
//! hops are HTTP to mcpwall, then stdio to a server process of the session's; the last runs go
//! to the same server as a remote (Streamable HTTP) upstream instead.
//!
//! ```sh
//! cargo build --release -p mcpwall --bin mcpwall
//! cargo build --release -p mcpwall-gateway --examples
//! target/release/examples/http_latency target/release/mcpwall target/release/examples/echo_server [CALLS]
//! ```
//!
//! Prints: sequential calls (as fast as they go) and calls paced at 1,000/s, straight to the
//! server and through mcpwall answered as one JSON body and as an SSE stream; then throughput
//! with 2 and 8 concurrent sessions, through mcpwall and straight over HTTP; then mcpwall's
//! resident memory; then 1,000 stdio sessions held at once (a server process each) that each
//! answer a call; then calls through the remote upstream, and the memory of 1,000 sessions held
//! open through it.

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
    let (echo, echo_addr) = start_http_echo(&server)?;
    let _echo = Stopped(echo);
    std::fs::write(
        &config,
        format!(
            "max_sessions = 4000\n[[upstream]]\nname = \"echo\"\ncommand = [{server:?}]\n\
             [[upstream]]\nname = \"remote\"\nurl = \"http://{echo_addr}/mcp/echo\"\n"
        ),
    )?;
    let (gateway, addr) = start(&mcpwall, &config, &policy)?;
    let gateway = Stopped(gateway);
    let idle = rss(gateway.id())?;

    print_times("stdio direct", stdio_times(&server, calls)?);
    let mut c = Client::connect(&echo_addr, "/mcp/echo", false)?;
    let direct = c.times(calls, None)?;
    print_times("http direct", direct.clone());
    let direct_paced = c.times(calls.min(3000), Some(Duration::from_millis(1)))?;
    print_times("http direct 1000/s", direct_paced.clone());
    for (name, sse) in [("via mcpwall json", false), ("via mcpwall sse", true)] {
        let mut c = Client::connect(&addr, "/mcp/echo", sse)?;
        let t = c.times(calls, None)?;
        print_times(name, t.clone());
        added(&direct, &t);
        let t = c.times(calls.min(3000), Some(Duration::from_millis(1)))?;
        print_times(&format!("{name} 1000/s"), t.clone());
        added(&direct_paced, &t);
    }
    // A client of protocol 2026-07-28, without a session: through the one server process
    // mcpwall shares among such clients.
    let mut c = Client::stateless(&addr, "/mcp/echo")?;
    let t = c.times(calls, None)?;
    print_times("via mcpwall 2026", t.clone());
    added(&direct, &t);
    for sessions in [2, 8] {
        let per = calls / sessions;
        let http = throughput(&addr, sessions, per, false)?;
        let direct = throughput(&echo_addr, sessions, per, false)?;
        let shared = throughput(&addr, sessions, per, true)?;
        println!(
            "throughput, {sessions} sessions: via mcpwall {http:.0} calls/s, http direct {direct:.0} calls/s ({:.0}%); {sessions} clients without sessions (one server process) via mcpwall {shared:.0} calls/s ({:.0}%)",
            100.0 * http / direct,
            100.0 * shared / direct
        );
    }
    println!(
        "mcpwall serve resident memory: idle {idle} kB, after the runs {} kB",
        rss(gateway.id())?
    );
    // 1,000 stdio sessions at once, a server process each, every one answering a call: what
    // each costs mcpwall (its server process aside).
    let before = rss(gateway.id())?;
    let t = Instant::now();
    let mut held: Vec<Client> = (0..1000)
        .map(|_| Client::connect(&addr, "/mcp/echo", false))
        .collect::<Res<_>>()?;
    let opened = t.elapsed();
    // One call each (not `times`, whose 200 warm-up calls a client would make the last
    // sessions wait longer than mcpwall keeps an idle connection open).
    for c in &mut held {
        c.call_once()?;
    }
    println!(
        "1000 stdio sessions held (a server process each), each answered a call: opened in \
         {:.1} s; +{} kB in mcpwall ({:.1} kB each)",
        opened.as_secs_f64(),
        rss(gateway.id())? - before,
        (rss(gateway.id())? - before) as f64 / 1000.0
    );
    drop(held);
    // A remote upstream (Streamable HTTP): no process per session.
    let mut c = Client::connect(&addr, "/mcp/remote", false)?;
    let t = c.times(calls.min(3000), None)?;
    print_times("via mcpwall remote", t.clone());
    added(&direct, &t);
    let before = rss(gateway.id())?;
    let held: Vec<Client> = (0..1000)
        .map(|_| Client::connect(&addr, "/mcp/remote", false))
        .collect::<Res<_>>()?;
    let after = rss(gateway.id())?;
    println!(
        "1000 idle sessions of the remote upstream held: +{} kB in mcpwall ({:.1} kB each)",
        after - before,
        (after - before) as f64 / 1000.0
    );
    drop(held);
    Ok(())
}

/// Calls per second with `sessions` clients in parallel, `per` calls each (`stateless`:
/// clients of protocol 2026-07-28, without sessions).
fn throughput(addr: &str, sessions: usize, per: usize, stateless: bool) -> Res<f64> {
    let t = Instant::now();
    let threads: Vec<_> = (0..sessions)
        .map(|_| {
            let addr = addr.to_owned();
            std::thread::spawn(move || -> Result<(), String> {
                let mut c = if stateless {
                    Client::stateless(&addr, "/mcp/echo").map_err(|e| e.to_string())?
                } else {
                    Client::connect(&addr, "/mcp/echo", false).map_err(|e| e.to_string())?
                };
                c.times(per, None).map_err(|e| e.to_string())?;
                Ok(())
            })
        })
        .collect();
    for th in threads {
        th.join().map_err(|_| "a client thread panicked")??;
    }
    Ok((per * sessions) as f64 / t.elapsed().as_secs_f64())
}

/// A child process that is killed when this goes, on an early return too (else a failed run
/// leaves `mcpwall serve` and its servers behind).
struct Stopped(Child);

impl Stopped {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory, in kB (signed: memory given back makes a difference negative).
fn rss(pid: u32) -> Res<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .ok_or("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}

fn start_http_echo(server: &str) -> Res<(Child, String)> {
    let mut child = Command::new(server)
        .arg("--http")
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let line = lines.next().ok_or("the echo server did not start")??;
    let addr = line
        .strip_prefix("listening on ")
        .ok_or("the echo server said something else")?
        .to_owned();
    Ok((child, addr))
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

/// One session over one keep-alive connection (or, `stateless`, a client of protocol
/// 2026-07-28, which has none).
struct Client {
    conn: BufReader<TcpStream>,
    addr: String,
    path: &'static str,
    session: String,
    sse: bool,
    stateless: bool,
    next_id: usize,
}

impl Client {
    fn stateless(addr: &str, path: &'static str) -> Res<Client> {
        let conn = TcpStream::connect(addr)?;
        conn.set_nodelay(true)?;
        Ok(Client {
            conn: BufReader::new(conn),
            addr: addr.to_owned(),
            path,
            session: String::new(),
            sse: false,
            stateless: true,
            next_id: 1,
        })
    }

    fn connect(addr: &str, path: &'static str, sse: bool) -> Res<Client> {
        let conn = TcpStream::connect(addr)?;
        conn.set_nodelay(true)?;
        let mut c = Client {
            conn: BufReader::new(conn),
            addr: addr.to_owned(),
            path,
            session: String::new(),
            sse,
            stateless: false,
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

    fn call_once(&mut self) -> Res<()> {
        let frame = call_frame(self.next_id);
        self.next_id += 1;
        let (_, body) = self.post(&frame)?;
        if !body.contains("\"result\"") {
            return Err(format!("unexpected answer: {body}").into());
        }
        Ok(())
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
            let mut frame = call_frame(self.next_id);
            if self.stateless {
                // The envelope a 2026-07-28 request carries in place of a session.
                frame = frame.replacen(
                    "\"arguments\"",
                    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}},\"arguments\"",
                    1,
                );
            }
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
        let session = if self.stateless {
            "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: read\r\n"
                .to_owned()
        } else if self.session.is_empty() {
            String::new()
        } else {
            format!("Mcp-Session-Id: {}\r\n", self.session)
        };
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: {accept}\r\n{session}Content-Length: {}\r\n\r\n{body}",
            self.path,
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
