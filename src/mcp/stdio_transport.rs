//! The stdio transport: rmcp's own, with a shorter way in for tool calls.
//!
//! rmcp reads a message as an untagged enum of every request type, tried in turn, and
//! `tools/call` is the fourteenth: the thirteen failed tries each build an error message.
//! For a keystroke sent to a shell that was about 22,000 instructions of the 230,000 the
//! server spends on the call. Here a line that is a `tools/call` request is read as one
//! directly. Every other line (other requests, notifications, responses, malformed input)
//! is handed to rmcp's transport unchanged, which answers or ignores it as it always does;
//! replies go out through that transport's writer.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rmcp::RoleServer;
use rmcp::model::{CallToolRequest, ClientRequest, JsonRpcMessage, JsonRpcRequest};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{AsyncRwTransport, DEFAULT_MAX_LINE_LENGTH};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader, ReadBuf};

/// A JSON-RPC transport over a reader and a writer, one message per line.
pub struct LineTransport<R, W: AsyncWrite> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Dropping the rest of a line that was too long.
    discarding: bool,
    /// rmcp's transport, reading the lines handed to it from `handed`.
    rmcp: AsyncRwTransport<RoleServer, Handed, W>,
    handed: Handed,
    /// A line was handed to rmcp and it has not finished with it.
    pending: bool,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        let handed = Handed::default();
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            rmcp: AsyncRwTransport::new(handed.clone(), write),
            handed,
            pending: false,
        }
    }

    /// Reads the next whole line, with its `\n`, into `self.line`; `false` at the end of
    /// the input. Lines longer than rmcp's limit are dropped, as rmcp drops them.
    /// Cancel-safe: a partial line stays in `self.line` for the next call.
    async fn next_line(&mut self) -> io::Result<bool> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(false);
            }
            let newline = memchr::memchr(b'\n', available);
            let take = newline.map_or(available.len(), |i| i + 1);
            let mut whole = false;
            if self.discarding {
                self.discarding = newline.is_none();
            } else if self.line.len().saturating_add(take) > DEFAULT_MAX_LINE_LENGTH {
                tracing::error!(
                    max_line_length = DEFAULT_MAX_LINE_LENGTH,
                    "Incoming message exceeded the maximum line length, discarding it"
                );
                self.line.clear();
                self.discarding = newline.is_none();
            } else {
                self.line.extend_from_slice(&available[..take]);
                whole = newline.is_some();
            }
            self.read.consume(take);
            if whole {
                return Ok(true);
            }
        }
    }
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.rmcp.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if self.pending {
                // rmcp reads the handed line, then finds nothing more and ends its read: a
                // message, or `None` once it has answered or skipped the line. A `None`
                // before it reached the end of the handed lines means it stopped for its own
                // reason (its answer could not be written), and so does this transport.
                self.handed.queue().ended = false;
                let message = self.rmcp.receive().await;
                self.pending = false;
                if message.is_some() {
                    return message;
                }
                if !self.handed.queue().ended {
                    return None;
                }
            }
            match self.next_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    tracing::error!("Error reading from stream: {e}");
                    return None;
                }
            }
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let call = tool_call(text);
            if call.is_none() {
                self.handed.push(&self.line);
                self.pending = true;
            }
            self.line.clear();
            self.line.shrink_to(KEPT_CAPACITY);
            if call.is_some() {
                return call;
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.rmcp.close().await
    }
}

/// The line as a `tools/call` request, when it is one that rmcp would read as one.
fn tool_call(line: &[u8]) -> Option<RxJsonRpcMessage<RoleServer>> {
    memchr::memmem::find(line, b"tools/call")?;
    let request: JsonRpcRequest<CallToolRequest> = serde_json::from_slice(line).ok()?;
    // rmcp refuses a request that also has `result` or `error`. Such a key is spelled out
    // in the line, or written with a `\u` escape.
    let may_have = |word: &[u8]| memchr::memmem::find(line, word).is_some();
    if may_have(b"\"result\"") || may_have(b"\"error\"") || may_have(b"\\u") {
        let keys: Keys = serde_json::from_slice(line).ok()?;
        if keys.result || keys.error {
            return None;
        }
    }
    Some(JsonRpcMessage::Request(JsonRpcRequest::new(
        request.id,
        ClientRequest::from(request.request),
    )))
}

/// Whether an object has the keys that make a message a response or an error.
#[derive(Default)]
struct Keys {
    result: bool,
    error: bool,
}

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON-RPC message")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Keys::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "result" => keys.result = true,
                        "error" => keys.error = true,
                        _ => {}
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(keys)
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// The lines handed to rmcp: read back in order, and the end of input once all are read,
/// which ends rmcp's read without ending the transport.
#[derive(Clone, Default)]
struct Handed(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    read: usize,
    /// A read found nothing left.
    ended: bool,
}

/// Buffers keep at most this much room after a long line.
const KEPT_CAPACITY: usize = 64 * 1024;

impl Handed {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: &[u8]) {
        self.queue().bytes.extend_from_slice(line);
    }
}

impl AsyncRead for Handed {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut q = self.queue();
        let from = q.read;
        let n = buf.remaining().min(q.bytes.len() - from);
        buf.put_slice(&q.bytes[from..from + n]);
        q.read += n;
        q.ended |= from == q.bytes.len();
        if q.read == q.bytes.len() {
            q.bytes.clear();
            q.bytes.shrink_to(KEPT_CAPACITY);
            q.read = 0;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[path = "stdio_transport/tests.rs"]
mod tests;
