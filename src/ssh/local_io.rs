//! The local side of SFTP transfers. A blocking thread reads the file being uploaded, or
//! writes the file being downloaded, and computes the SHA-256 of the bytes, so that disk IO
//! and hashing overlap the network instead of holding up the window of SFTP requests.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks queued between the network side and the local thread.
const QUEUE: usize = 32;

/// Reads a local source in chunks on a blocking thread, hashing what it reads.
pub struct Reader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    task: JoinHandle<Option<[u8; 32]>>,
}

impl Reader {
    /// Starts reading `source` in chunks of `chunk` bytes (the last one may be shorter),
    /// hashing them when `hash` is set.
    pub fn spawn(mut source: Box<dyn Read + Send>, chunk: usize, hash: bool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let mut hasher = hash.then(Sha256::new);
            loop {
                let mut buf = vec![0u8; chunk];
                let item = match read_full(&mut source, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if let Some(h) = &mut hasher {
                            h.update(&buf);
                        }
                        Ok(buf)
                    }
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                // A closed channel means the transfer stopped: stop reading too.
                if tx.blocking_send(item).is_err() || failed {
                    break;
                }
            }
            hasher.map(|h| h.finalize().into())
        });
        Self { rx, task }
    }

    /// The next chunk; `None` at the end of the source.
    pub async fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        self.rx.recv().await
    }

    /// The SHA-256 of everything read, if asked for; call after `next` returned `None`.
    pub async fn finish(self) -> io::Result<Option<[u8; 32]>> {
        drop(self.rx);
        self.task.await.map_err(io::Error::other)
    }
}

fn read_full(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match source.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What a [`Writer`] produced.
pub struct Written {
    pub sha256: Option<[u8; 32]>,
    /// The bytes, when writing to memory.
    pub memory: Vec<u8>,
}

/// Writes chunks to a local file (or collects them in memory) on a blocking thread,
/// hashing them.
pub struct Writer {
    tx: mpsc::Sender<Vec<u8>>,
    task: JoinHandle<io::Result<Written>>,
}

impl Writer {
    /// Writes into `file`, or into memory without one; hashes when `hash` is set.
    pub fn spawn(file: Option<std::fs::File>, hash: bool) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let mut hasher = hash.then(Sha256::new);
            let mut memory = Vec::new();
            let mut file = file.map(|f| io::BufWriter::with_capacity(1 << 20, f));
            while let Some(chunk) = rx.blocking_recv() {
                if let Some(h) = &mut hasher {
                    h.update(&chunk);
                }
                match &mut file {
                    Some(f) => f.write_all(&chunk)?,
                    None => memory.extend_from_slice(&chunk),
                }
            }
            if let Some(f) = file {
                f.into_inner().map_err(io::IntoInnerError::into_error)?;
            }
            Ok(Written {
                sha256: hasher.map(|h| h.finalize().into()),
                memory,
            })
        });
        Self { tx, task }
    }

    /// Queues a chunk. An error means the thread stopped; `finish` says why.
    pub async fn write(&self, chunk: Vec<u8>) -> Result<(), ()> {
        self.tx.send(chunk).await.map_err(|_| ())
    }

    /// Waits until everything queued is written.
    pub async fn finish(self) -> io::Result<Written> {
        drop(self.tx);
        self.task.await.map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reader_chunks_and_hashes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = Reader::spawn(Box::new(io::Cursor::new(data.clone())), 4096, true);
        let mut back = Vec::new();
        let mut sizes = Vec::new();
        while let Some(c) = r.next().await {
            let c = c.unwrap();
            sizes.push(c.len());
            back.extend_from_slice(&c);
        }
        assert_eq!(back, data);
        assert!(sizes[..sizes.len() - 1].iter().all(|&n| n == 4096));
        let sha: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(r.finish().await.unwrap(), Some(sha));
    }

    #[tokio::test]
    async fn writer_writes_file_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let w = Writer::spawn(Some(std::fs::File::create(&path).unwrap()), true);
        let m = Writer::spawn(None, true);
        for i in 0..50u8 {
            w.write(vec![i; 10_000]).await.unwrap();
            m.write(vec![i; 10_000]).await.unwrap();
        }
        let a = w.finish().await.unwrap();
        let b = m.finish().await.unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk, b.memory);
        assert_eq!(on_disk.len(), 500_000);
        assert_eq!(a.sha256, b.sha256);
        assert!(a.sha256.is_some());
        let n = Writer::spawn(None, false);
        n.write(vec![1; 10]).await.unwrap();
        assert_eq!(n.finish().await.unwrap().sha256, None);
        assert!(a.memory.is_empty());
    }
}
