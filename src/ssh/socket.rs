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

/// Told about every chunk of bytes a stream reads.
pub trait ReadObserver<S> {
    fn observe(&mut self, stream: &S, data: &[u8]);
}

/// A stream whose reads are shown to an observer; everything else passes through.
#[derive(Debug)]
pub struct Observed<S, O> {
    inner: S,
    observer: O,
}

impl<S, O> Observed<S, O> {
    pub fn new(inner: S, observer: O) -> Self {
        Self { inner, observer }
    }
}

/// The SSH connection's TCP stream: acknowledges received data immediately.
pub type QuickAckStream = Observed<TcpStream, QuickAck>;

/// Re-arms `TCP_QUICKACK` after every read.
#[derive(Debug)]
pub struct QuickAck;

impl ReadObserver<TcpStream> for QuickAck {
    fn observe(&mut self, stream: &TcpStream, _: &[u8]) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
        }
        // Elsewhere there is no such option.
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = stream;
    }
}

/// Wraps a connected stream and sets `TCP_NODELAY` on it.
pub fn quick_ack(inner: TcpStream) -> io::Result<QuickAckStream> {
    inner.set_nodelay(true)?;
    Ok(Observed::new(inner, QuickAck))
}

/// The buffer the SSH transport reads through.
///
/// russh reads each packet in two exact reads, its length and then the rest, and reads once
/// more to learn that nothing else has come: three `recvfrom` and two `TCP_QUICKACK` calls
/// for one small packet. Through a buffer, one read takes all that has arrived, and as it
/// comes back short, tokio waits for the socket to be readable again instead of reading it.
/// One page: it is part of every session's memory (16 KiB made an idle session 16 KiB
/// larger), small packets fit in it, and a read as large as the buffer bypasses it, so
/// bulk data is copied at most one page at a time and read with as many calls as before.
pub fn read_buffer<S: AsyncRead>(inner: S) -> tokio::io::BufReader<S> {
    tokio::io::BufReader::with_capacity(4 * 1024, inner)
}

impl<S: AsyncRead + Unpin, O: ReadObserver<S> + Unpin> AsyncRead for Observed<S, O> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(())))
            && let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
        {
            this.observer.observe(&this.inner, new);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin, O: Unpin> AsyncWrite for Observed<S, O> {
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
