//! A rogue SSH server: once the client has authenticated, it opens a channel of every kind
//! toward the client (`session`, `direct-tcpip`, `x11`, `auth-agent`, `forwarded-tcpip` for
//! a port nobody forwarded, and the two streamlocal kinds) and records whether each was
//! accepted. The client must refuse them all, and its own session must carry on.
//!
//! The server is russh's server side, in this process, so the test runs wherever the suite
//! runs and with every feature set. It runs the client's commands with `/bin/sh`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, Handler, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg};
use serde_json::json;
use tokio::sync::mpsc;

use crate::harness::Server;
use crate::sshd::{self, USER};

/// The channel kinds the server tries, in order.
const KINDS: [&str; 7] = [
    "session",
    "direct-tcpip",
    "x11",
    "auth-agent@openssh.com",
    "forwarded-tcpip",
    "forwarded-streamlocal@openssh.com",
    "direct-streamlocal@openssh.com",
];

/// One client connection of the rogue server.
struct Rogue {
    /// Where each attempt's outcome goes: (kind, accepted).
    outcomes: mpsc::UnboundedSender<(&'static str, bool)>,
}

impl Handler for Rogue {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(test_user_only(user))
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        tokio::spawn(open_everything(session.handle(), self.outcomes.clone()));
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        tokio::spawn(serve_commands(channel));
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

/// Opens one channel of each kind toward the client, one after the other, and reports
/// whether the client accepted it.
async fn open_everything(
    handle: russh::server::Handle,
    outcomes: mpsc::UnboundedSender<(&'static str, bool)>,
) {
    for kind in KINDS {
        let opened = async {
            match kind {
                "session" => handle.channel_open_session().await,
                "direct-tcpip" => {
                    handle
                        .channel_open_direct_tcpip("127.0.0.1", 22, "127.0.0.1", 40000)
                        .await
                }
                "x11" => handle.channel_open_x11("127.0.0.1", 6010).await,
                "auth-agent@openssh.com" => handle.channel_open_agent().await,
                "forwarded-tcpip" => {
                    handle
                        .channel_open_forwarded_tcpip("127.0.0.1", 8080, "127.0.0.1", 40001)
                        .await
                }
                "forwarded-streamlocal@openssh.com" => {
                    handle
                        .channel_open_forwarded_streamlocal("/tmp/rogue.sock")
                        .await
                }
                _ => {
                    handle
                        .channel_open_direct_streamlocal("/tmp/rogue.sock")
                        .await
                }
            }
        };
        let accepted = match tokio::time::timeout(Duration::from_secs(10), opened).await {
            Ok(Ok(channel)) => {
                // What an accepted channel would carry toward the client.
                let _ = channel.data(&b"from the rogue server\n"[..]).await;
                true
            }
            Ok(Err(_)) | Err(_) => false,
        };
        let _ = outcomes.send((kind, accepted));
    }
}

/// Runs the `exec` requests of one session channel with `/bin/sh` and sends back the
/// output and exit status.
async fn serve_commands(mut channel: Channel<Msg>) {
    while let Some(msg) = channel.wait().await {
        let ChannelMsg::Exec { command, .. } = msg else {
            continue;
        };
        let out = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(String::from_utf8_lossy(&command).into_owned())
            .stdin(Stdio::null())
            .output()
            .await;
        let code = match out {
            Ok(out) => {
                let _ = channel.data(&out.stdout[..]).await;
                let _ = channel.extended_data(1, &out.stderr[..]).await;
                out.status.code().unwrap_or(255) as u32
            }
            Err(_) => 127,
        };
        let _ = channel.exit_status(code).await;
        let _ = channel.eof().await;
        let _ = channel.close().await;
    }
}

/// Starts the rogue server on a free loopback port; returns the port and the receiver of
/// the outcomes.
async fn start(dir: &std::path::Path) -> (u16, mpsc::UnboundedReceiver<(&'static str, bool)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let port = serve(dir, "rogue_host", move || Rogue {
        outcomes: tx.clone(),
    })
    .await;
    (port, rx)
}

/// Serves russh's server side on a free loopback port with a new ed25519 host key in `dir`,
/// one handler from `handler` per connection; returns the port.
pub(crate) async fn serve<H, F>(dir: &std::path::Path, key_name: &str, handler: F) -> u16
where
    H: Handler + Send + 'static,
    F: Fn() -> H + Send + 'static,
{
    let key = sshd::keygen(dir, key_name, "ed25519", "");
    let config = Arc::new(russh::server::Config {
        keys: vec![russh::keys::load_secret_key(&key, None).unwrap()],
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (config, handler) = (config.clone(), handler());
            tokio::spawn(async move {
                if let Ok(running) = russh::server::run_stream(config, stream, handler).await {
                    let _ = running.await;
                }
            });
        }
    });
    port
}

/// The test user's key is accepted, every other user refused.
pub(crate) fn test_user_only(user: &str) -> Auth {
    if user == USER {
        Auth::Accept
    } else {
        Auth::reject()
    }
}

#[tokio::test]
async fn channels_a_server_opens_toward_the_client_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (port, mut outcomes) = start(dir.path()).await;
    let srv = Server::stdio().await;
    let s = srv.connect_address(&format!("127.0.0.1:{port}")).await;

    let mut seen = Vec::new();
    while seen.len() < KINDS.len() {
        let next = tokio::time::timeout(Duration::from_secs(30), outcomes.recv())
            .await
            .expect("the rogue server stopped reporting")
            .expect("the rogue server ended");
        seen.push(next);
    }
    let accepted: Vec<&str> = seen.iter().filter(|(_, a)| *a).map(|(k, _)| *k).collect();
    assert!(accepted.is_empty(), "the client accepted {accepted:?}");
    assert_eq!(
        seen.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        KINDS.to_vec()
    );
    let log = srv.log();
    for kind in KINDS {
        assert!(
            log.contains(&format!("channel_type=\"{kind}\""))
                || log.contains(&format!("channel_type={kind}")),
            "no refusal of {kind} logged:\n{log}"
        );
    }

    // The client's own session carries on, on the same connection.
    let v = srv.exec(&s, "echo fine; echo err >&2; exit 3").await;
    assert_eq!(v["stdout"], "fine\n");
    assert_eq!(v["stderr"], "err\n");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["reconnected"], false);
    let list = srv.ok("ssh_list_sessions", json!({})).await;
    assert_eq!(list["sessions"][0]["alive"], true);
    assert_eq!(list["sessions"][0]["forwards"], json!([]));
}
