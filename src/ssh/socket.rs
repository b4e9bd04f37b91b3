//! The SSH connection's TCP stream, tuned for request/response latency.
//!
//! sshd leaves Nagle's algorithm on for sessions without a terminal. When it sends two
//! small packets in a row, the second waits in its kernel until we acknowledge the first,
//! and Linux delays that acknowledgement by up to 40 ms when it has no data to send with it.
//! That is what makes the first command on a fresh OpenSSH connection take 45 ms instead of
//! 2 ms. Re-arming `TCP_QUICKACK` after every read sends pending acknowledgements at once.
//! Together with `TCP_NODELAY` on our side, no small packet waits in either direction.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that acknowledges received data immediately.
#[derive(Debug)]
pub struct QuickAckStream {
    inner: TcpStream,
}

impl QuickAckStream {
    /// Wraps a connected stream and sets `TCP_NODELAY` on it.
    pub fn new(inner: TcpStream) -> io::Result<Self> {
        inner.set_nodelay(true)?;
        Ok(Self { inner })
    }

    fn quickack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(&self.inner).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.quickack();
        }
        r
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
