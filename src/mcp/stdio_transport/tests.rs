//! The transport must read every input as rmcp's own does: the same messages, and the same
//! bytes written back (rmcp answers a well-formed but invalid message itself).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rmcp::RoleServer;
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::AsyncWrite;

use super::{LineTransport, tool_call};

/// A writer whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl AsyncWrite for Written {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(b);
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A writer that always fails, as a closed stdout does.
struct Broken;

impl AsyncWrite for Broken {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Every message the transport gives for `input`, as JSON, and what it wrote back.
async fn read_all<T: Transport<RoleServer>>(
    mut t: T,
    written: Written,
) -> (Vec<serde_json::Value>, String) {
    let mut got = Vec::new();
    while let Some(m) = t.receive().await {
        got.push(serde_json::to_value(&m).unwrap());
        assert!(got.len() < 100, "too many messages");
    }
    let out = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
    (got, out)
}

async fn both(input: &[u8]) -> [(Vec<serde_json::Value>, String); 2] {
    let (w1, w2) = (Written::default(), Written::default());
    let theirs = AsyncRwTransport::<RoleServer, _, _>::new(input, w1.clone());
    let ours = LineTransport::new(input, w2.clone());
    [read_all(theirs, w1).await, read_all(ours, w2).await]
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ssh_shell_send","arguments":{"shell_id":"a","text":"x","wait_for":"x"},"_meta":{"progressToken":"p1"}}}"#;

#[tokio::test]
async fn every_input_should_be_read_as_rmcp_reads_it() {
    let cases: Vec<Vec<u8>> = vec![
        format!("{CALL}\n").into(),
        format!("{CALL}\r\n").into(),
        format!("\u{feff}{CALL}\n").into(),
        // Members in another order, spaces, a string id, no arguments.
        br#" { "params" : {"name":"ssh_list_sessions"}, "method":"tools/call" , "id":"x-1", "jsonrpc":"2.0" }
"#.to_vec(),
        // A request that also carries a result or an error: answered as invalid.
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"result":{}}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a"},"error":null}
{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a"},"\u0072esult":1}
{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"a","arguments":{"result":"error"}}}
{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"a\u0062"}}
"#.to_vec(),
        // tools/call that is not one: no id, no name, wrong version, params not an object.
        br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}
{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}
{"jsonrpc":"1.0","id":4,"method":"tools/call","params":{"name":"a"}}
{"jsonrpc":"2.0","id":5,"method":"tools/call","params":[1]}
{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"a","arguments":"no"}}
"#.to_vec(),
        // Other messages, with "tools/call" only inside them.
        br#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"tools/call"}}
{"jsonrpc":"2.0","id":9,"method":"ping"}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"tools/call"}}
{"jsonrpc":"2.0","method":"notifications/vendor/x"}
{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{}}
{"jsonrpc":"2.0","id":10,"result":{}}
{"jsonrpc":"2.0","id":11,"error":{"code":-1,"message":"tools/call"}}
"#.to_vec(),
        // Not JSON, or not a message: ignored or answered, as rmcp does.
        b"\n   \n{\"jsonrpc\":\n[1,2]\n\"tools/call\"\n{\"method\":\"tools/call\",\"id\":1,\"id\":2}\n"
            .to_vec(),
        [b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\xff\"}}\n" as &[u8]]
            .concat(),
        // A last line without its end.
        format!("{CALL}\n{CALL}").into(),
    ];
    for input in cases {
        let [theirs, ours] = both(&input).await;
        assert_eq!(ours, theirs, "input: {}", String::from_utf8_lossy(&input));
    }
}

#[tokio::test]
async fn a_line_over_the_limit_should_be_dropped_and_the_next_read() {
    let mut input = vec![b'x'; rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH + 10];
    input.push(b'\n');
    input.extend_from_slice(format!("{CALL}\n").as_bytes());
    let [theirs, ours] = both(&input).await;
    assert_eq!(ours.0.len(), 1);
    assert_eq!(ours, theirs);
}

#[test]
fn tool_calls_should_take_the_short_way() {
    assert!(tool_call(CALL.as_bytes()).is_some());
    let other =
        br#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"tools/call"}}"#;
    assert!(tool_call(other).is_none());
}

#[tokio::test]
async fn an_answer_that_cannot_be_written_should_end_the_transport_as_in_rmcp() {
    // `[1]` is answered as an invalid request; the answer fails, and rmcp's transport ends.
    let mut input = String::from("[1]\n");
    for i in 0..100 {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{{\"requestId\":{i}}}}}\n"
        ));
    }
    input.push_str(&format!("{CALL}\n"));
    let mut theirs = AsyncRwTransport::<RoleServer, _, _>::new(input.as_bytes(), Broken);
    assert!(theirs.receive().await.is_none());
    let mut ours = LineTransport::new(input.as_bytes(), Broken);
    assert!(ours.receive().await.is_none());
    assert!(ours.handed.queue().bytes.is_empty());
}

#[tokio::test]
async fn a_long_line_should_not_keep_its_room() {
    let mut input = format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\",\"params\":\"{}\"}}\n",
        "y".repeat(1 << 20)
    );
    input.push_str(&format!("{CALL}\n"));
    let mut ours = LineTransport::new(input.as_bytes(), Written::default());
    assert!(ours.receive().await.is_some());
    assert!(ours.line.capacity() <= super::KEPT_CAPACITY);
    assert!(ours.handed.queue().bytes.capacity() <= super::KEPT_CAPACITY);
}
