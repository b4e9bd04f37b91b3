use ssh_mcp::Settings;
use ssh_mcp::ssh::{Address, ConnectRequest, Credentials, Session};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let req = ConnectRequest {
        address: Address::parse(&a[1], 22)?,
        username: "sshmcp-test".into(),
        credentials: Credentials {
            key_path: Some(PathBuf::from(&a[2])),
            ..Default::default()
        },
    };
    let t0 = std::time::Instant::now();
    let session = Session::connect(&req, &Settings::default()).await?;
    eprintln!("connected {:?}", t0.elapsed());
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let mut ch = session.handle().channel_open_session().await?;
        eprintln!(" open {:?}", t.elapsed());
        ch.exec(true, "true").await?;
        eprintln!(" exec sent {:?}", t.elapsed());
        ch.eof().await?;
        while let Some(m) = ch.wait().await {
            eprintln!("  {:?} {:?}", t.elapsed(), std::mem::discriminant(&m));
        }
        eprintln!(" done {:?}", t.elapsed());
    }
    Ok(())
}
