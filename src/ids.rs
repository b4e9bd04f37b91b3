//! Unguessable identifiers: session, job and forward ids, temporary file names, markers.

use crate::error::{Error, Result};

/// `bytes` random bytes from the OS, as lower-case hex.
pub fn random_id(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        Error::io(
            "reading the OS random generator",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(crate::hex::encode(&buf))
}
