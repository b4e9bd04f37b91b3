//! Authentication: explicit key file and/or password, else the agent, else the default
//! identity files, as OpenSSH would; key files are loaded here, the agent is asked in
//! [`crate::ssh::agent`].

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{MethodKind, MethodSet};

use crate::error::{Error, KeyProblem, MissingSecret, Result};
use crate::paths::home_dir;
use crate::secret::Secret;
use crate::ssh::agent::try_agent;
use crate::ssh::handler::ClientHandler;

/// The default identity files tried when no credential is given, in order.
pub const DEFAULT_IDENTITIES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// What the caller gave us to log in with. Nothing at all means: agent, then default
/// identity files.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Password for `password` (or `keyboard-interactive`) authentication.
    pub password: Option<Secret>,
    /// Private key file, already `~`-expanded.
    pub key_path: Option<PathBuf>,
    /// Passphrase for an encrypted key (the explicit one or a default identity).
    pub passphrase: Option<Secret>,
    /// `IdentityFile`s of the ssh client config, tried after the agent.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`: only `identity_files`, no agent, no default identities.
    pub identities_only: bool,
}

/// Which method finally let us in.
pub type AuthMethod = String;

/// Loads a private key, turning every failure into a [`KeyProblem`] a user can act on.
/// Whatever the file is when it is not a private key (missing, unreadable, a directory, a
/// device, any other text), the answer is the same [`KeyProblem::NotAKey`], so that a
/// `key_path` cannot be used to learn about other files.
pub fn load_key(path: &Path, passphrase: Option<&Secret>) -> Result<PrivateKey> {
    let problem = |problem| Error::KeyFile {
        path: path.to_path_buf(),
        problem,
    };
    let text = read_key_file(path).map_err(|e| {
        tracing::debug!(path = %path.display(), error = %e, "key file not readable");
        problem(KeyProblem::NotAKey)
    })?;
    if !looks_like_private_key(&text) {
        return Err(problem(KeyProblem::NotAKey));
    }
    match russh::keys::decode_secret_key(&text, passphrase.map(Secret::expose)) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(problem(KeyProblem::Encrypted)),
        Err(_) if passphrase.is_some() && is_encrypted(&text) => {
            Err(problem(KeyProblem::WrongPassphrase))
        }
        Err(_) if is_encrypted(&text) => Err(problem(KeyProblem::Encrypted)),
        Err(_) => Err(problem(KeyProblem::NotAKey)),
    }
}

/// Whether a file's text is framed as a private key (`-----BEGIN … PRIVATE KEY-----`).
fn looks_like_private_key(text: &str) -> bool {
    let first = text.trim_start().lines().next().unwrap_or("");
    first.starts_with("-----BEGIN ") && first.ends_with("PRIVATE KEY-----")
}

/// The largest key file read: a 16384-bit RSA key is about 13 KB.
const MAX_KEY_FILE: u64 = 1 << 20;

/// A key file's text. Only regular files of sane size are read: a device such as
/// `/dev/zero` would never end, and a FIFO would block on open.
fn read_key_file(path: &Path) -> io::Result<String> {
    // Opened without blocking (a FIFO would block here), then judged by what was opened.
    let file = crate::local_paths::open_nonblocking(path, false)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(io::Error::other("not a regular file of a key's size"));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(io::Error::other("too large for a key"));
    }
    Ok(text)
}

/// [`load_key`] on the blocking pool: decrypting a key runs a deliberately slow KDF
/// (bcrypt-pbkdf, PBKDF2), which must not hold up the runtime's other tasks.
async fn load_key_in_background(path: &Path, passphrase: Option<&Secret>) -> Result<PrivateKey> {
    let (path, passphrase) = (path.to_path_buf(), passphrase.cloned());
    tokio::task::spawn_blocking(move || load_key(&path, passphrase.as_ref()))
        .await
        .map_err(|e| Error::io("loading a key", io::Error::other(e)))?
}

/// Whether a key file's text is an encrypted key (OpenSSH, PKCS#8 or legacy PEM).
/// OpenSSH keys say so inside: decoding one without a passphrase tells, without running
/// the KDF, through the same decoder that loads keys.
fn is_encrypted(text: &str) -> bool {
    text.contains("ENCRYPTED")
        || matches!(
            russh::keys::decode_secret_key(text, None),
            Err(russh::keys::Error::KeyIsEncrypted)
        )
}

/// Runs authentication on a fresh connection. Returns a short description of the method
/// that succeeded.
pub async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    host: &str,
    creds: &Credentials,
) -> Result<AuthMethod> {
    let mut tried: Vec<String> = Vec::new();
    let mut accepts = MethodSet::empty();

    if let Some(path) = &creds.key_path {
        let key = load_key_in_background(path, creds.passphrase.as_ref()).await?;
        let what = format!("key {}", path.display());
        match try_key(handle, user, key).await? {
            AuthResult::Success => return Ok(what),
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                tried.push(format!("{what} (rejected)"));
                accepts = remaining_methods;
            }
        }
    }
    if let Some(pw) = &creds.password
        && let Some(m) = try_password(handle, user, pw, &mut tried, &mut accepts).await?
    {
        return Ok(m);
    }
    if creds.key_path.is_none() && creds.password.is_none() {
        if !creds.identities_only
            && let Some(m) = try_agent(handle, user, &mut tried, &mut accepts).await?
        {
            return Ok(m);
        }
        let files: Vec<(PathBuf, String)> = if !creds.identity_files.is_empty() {
            creds
                .identity_files
                .iter()
                .map(|p| (p.clone(), p.display().to_string()))
                .collect()
        } else if creds.identities_only {
            Vec::new()
        } else {
            default_identities()
        };
        if let Some(m) =
            try_identity_files(handle, user, creds, &files, &mut tried, &mut accepts).await?
        {
            return Ok(m);
        }
    }
    if accepts.is_empty() {
        // Nothing was offered: ask which methods the server takes (the "none" method), so
        // that the error can say, and a password can be asked for where one would do.
        match handle.authenticate_none(user).await {
            Ok(AuthResult::Success) => return Ok("none".into()),
            Ok(AuthResult::Failure {
                remaining_methods, ..
            }) => accepts = remaining_methods,
            Err(e) => tracing::debug!(error = %e, "asking for the authentication methods failed"),
        }
    }
    Err(Error::AuthFailed {
        user: user.to_string(),
        host: host.to_string(),
        tried: if tried.is_empty() {
            "nothing: no agent and no default identity file".into()
        } else {
            tried.join(", ")
        },
        accepts: method_names(&accepts),
    })
}

/// The secret whose absence made `err`, a failed authentication with `creds`, when the
/// user could type it: the password, where the server takes one and neither a password nor
/// a key file was given (the agent and the default keys failed); the passphrase of the
/// given key file, when it is encrypted and none was given.
pub fn missing_secret(creds: &Credentials, err: &Error) -> Option<MissingSecret> {
    match err {
        Error::AuthFailed { accepts, .. }
            if creds.password.is_none()
                && creds.key_path.is_none()
                && (accepts.contains("password") || accepts.contains("keyboard-interactive")) =>
        {
            Some(MissingSecret::Password)
        }
        Error::KeyFile {
            path,
            problem: KeyProblem::Encrypted,
        } if creds.passphrase.is_none() && creds.key_path.as_ref() == Some(path) => {
            Some(MissingSecret::Passphrase(path.clone()))
        }
        _ => None,
    }
}

async fn try_key(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    key: PrivateKey,
) -> Result<AuthResult> {
    let hash = rsa_hash(handle, key.algorithm().is_rsa()).await?;
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    Ok(handle.authenticate_publickey(user, key).await?)
}

/// The signature hash for an RSA key: the best the server lists in `server-sig-algs`.
/// Asking waits up to a second for a server that sends no extension info (tinysshd,
/// older servers), so other keys do not ask.
pub(crate) async fn rsa_hash(handle: &Handle<ClientHandler>, rsa: bool) -> Result<Option<HashAlg>> {
    if !rsa {
        return Ok(None);
    }
    Ok(handle.best_supported_rsa_hash().await?.flatten())
}

async fn try_password(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    pw: &Secret,
    tried: &mut Vec<String>,
    accepts: &mut MethodSet,
) -> Result<Option<AuthMethod>> {
    match handle
        .authenticate_password(user, pw.expose().to_string())
        .await?
    {
        AuthResult::Success => return Ok(Some("password".into())),
        AuthResult::Failure {
            remaining_methods, ..
        } => {
            tried.push("password (rejected)".into());
            *accepts = remaining_methods;
        }
    }
    // Servers with PAM often take passwords only through keyboard-interactive.
    if !accepts.contains(&MethodKind::KeyboardInteractive) {
        return Ok(None);
    }
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await?;
    // Answer at most a few rounds: one password prompt each; anything else is refused.
    for _ in 0..4 {
        match reply {
            KeyboardInteractiveAuthResponse::Success => {
                return Ok(Some("keyboard-interactive".into()));
            }
            KeyboardInteractiveAuthResponse::Failure {
                remaining_methods, ..
            } => {
                tried.push("keyboard-interactive (rejected)".into());
                *accepts = remaining_methods;
                return Ok(None);
            }
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| {
                        if p.echo {
                            String::new()
                        } else {
                            pw.expose().to_string()
                        }
                    })
                    .collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    tried.push("keyboard-interactive (too many prompts)".into());
    Ok(None)
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`, with how to show them.
fn default_identities() -> Vec<(PathBuf, String)> {
    let Some(dir) = home_dir().map(|h| h.join(".ssh")) else {
        return Vec::new();
    };
    DEFAULT_IDENTITIES
        .iter()
        .map(|name| (dir.join(name), format!("~/.ssh/{name}")))
        .collect()
}

async fn try_identity_files(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    creds: &Credentials,
    files: &[(PathBuf, String)],
    tried: &mut Vec<String>,
    accepts: &mut MethodSet,
) -> Result<Option<AuthMethod>> {
    for (path, shown) in files {
        if !path.exists() {
            continue;
        }
        let key = match load_key_in_background(path, creds.passphrase.as_ref()).await {
            Ok(k) => k,
            Err(Error::KeyFile { problem, .. }) => {
                tried.push(format!("{shown} ({problem})"));
                continue;
            }
            Err(e) => return Err(e),
        };
        match try_key(handle, user, key).await? {
            AuthResult::Success => return Ok(Some(format!("key {shown}"))),
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                tried.push(format!("{shown} (rejected)"));
                *accepts = remaining_methods;
            }
        }
    }
    Ok(None)
}

fn method_names(set: &MethodSet) -> String {
    if set.is_empty() {
        return "unknown".into();
    }
    set.iter().map(<&str>::from).collect::<Vec<_>>().join(", ")
}
