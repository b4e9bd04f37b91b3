//! The smallest end-to-end use of the library: connect with a key, run one command.
//!
//! `cargo run --example exec_once -- user@host:port /path/to/key 'uname -a'`

use std::path::PathBuf;

use ssh_mcp::Settings;
use ssh_mcp::ssh::exec::{self, ExecRequest, OutputSink};
use ssh_mcp::ssh::{Address, ConnectRequest, Credentials, Session};
use tokio_util::sync::CancellationToken;

struct Print;

impl OutputSink for Print {
    fn stdout(&mut self, data: &[u8]) {
        print!("{}", String::from_utf8_lossy(data));
    }
    fn stderr(&mut self, data: &[u8]) {
        eprint!("{}", String::from_utf8_lossy(data));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: exec_once user@host[:port] KEY COMMAND [REPEAT]";
    let target = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let key = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!(usage))?);
    let command = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let repeat: usize = args.next().map_or(Ok(1), |r| r.parse())?;
    let (user, host) = target
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!(usage))?;
    let req = ConnectRequest {
        address: Address::parse(host, 22)?,
        username: user.to_string(),
        credentials: Credentials {
            key_path: Some(key),
            ..Default::default()
        },
        ..Default::default()
    };
    let session = Session::connect(&req, &Settings::default()).await?;
    let mut times = Vec::new();
    for _ in 0..repeat {
        let t = std::time::Instant::now();
        let exit = exec::run(
            &session,
            ExecRequest {
                command: command.clone(),
                ..Default::default()
            },
            &mut Print,
            &CancellationToken::new(),
        )
        .await?;
        times.push(t.elapsed());
        if repeat == 1 {
            eprintln!("exit: {exit:?}");
        }
    }
    if repeat > 1 {
        times.sort();
        eprintln!("median {:?}, min {:?}", times[times.len() / 2], times[0]);
    }
    session.close().await;
    Ok(())
}
