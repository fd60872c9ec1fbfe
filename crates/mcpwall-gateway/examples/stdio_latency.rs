//! The stdio gateway's added latency: `tools/call` round trips with a 1 KB result, straight to
//! a server and through `mcpwall run`, one call at a time.
//!
//! ```sh
//! cargo build --release -p mcpwall --bin mcpwall
//! cargo build --release -p mcpwall-gateway --examples
//! target/release/examples/stdio_latency target/release/mcpwall target/release/examples/echo_server [CALLS]
//! ```

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: stdio_latency MCPWALL ECHO_SERVER [CALLS]";
    let mcpwall = args.next().ok_or(usage)?;
    let server = args.next().ok_or(usage)?;
    let calls: usize = args.next().as_deref().unwrap_or("5000").parse()?;
    let mut report = Vec::new();
    // Alternate, so that drift of the machine hits both sides alike.
    let mut direct = Vec::new();
    let mut via = Vec::new();
    for _ in 0..3 {
        direct.extend(session(Command::new(&server), calls)?);
        let mut cmd = Command::new(&mcpwall);
        cmd.args(["run", "--no-pins", "--audit", "/dev/null", "--", &server]);
        via.extend(session(cmd, calls)?);
    }
    for (name, mut v) in [("direct", direct), ("via mcpwall", via)] {
        v.sort_unstable();
        let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
        report.push((name, q(0.5), q(0.99)));
        #[allow(clippy::print_stdout)]
        {
            println!(
                "{name:12} calls {:6}  median {:7.1} µs  p90 {:7.1} µs  p99 {:7.1} µs",
                v.len(),
                micros(q(0.5)),
                micros(q(0.9)),
                micros(q(0.99))
            );
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "added: median {:.1} µs, p99 {:.1} µs",
            micros(report[1].1) - micros(report[0].1),
            micros(report[1].2) - micros(report[0].2)
        );
    }
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One session: initialize, list, a warm-up, then `calls` timed round trips.
fn session(mut cmd: Command, calls: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut input = child.stdin.take().ok_or("no stdin")?;
    let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    let mut call = |input: &mut ChildStdin,
                    output: &mut BufReader<ChildStdout>,
                    frame: &str|
     -> Result<Duration, Box<dyn std::error::Error>> {
        let t = Instant::now();
        input.write_all(frame.as_bytes())?;
        input.flush()?;
        line.clear();
        output.read_line(&mut line)?;
        let took = t.elapsed();
        if !line.contains("\"result\"") {
            return Err(format!("unexpected answer: {line}").into());
        }
        Ok(took)
    };
    call(
        &mut input,
        &mut output,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n",
    )?;
    input.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")?;
    call(
        &mut input,
        &mut output,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n",
    )?;
    let mut times = Vec::with_capacity(calls);
    for k in 0..calls + 200 {
        let frame = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"read\",\"arguments\":{{\"path\":\"reports/q{}.txt\"}}}}}}\n",
            k + 2,
            k % 4
        );
        let took = call(&mut input, &mut output, &frame)?;
        if k >= 200 {
            times.push(took);
        }
    }
    drop(input);
    child.wait()?;
    Ok(times)
}
