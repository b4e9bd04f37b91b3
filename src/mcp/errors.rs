//! The one mapping from core errors to what the model reads.
//!
//! Every operational failure becomes a tool result with `isError: true` whose text starts
//! with what failed and ends with what to do next. Arguments that do not fit the schema
//! never get here: rmcp answers them with a JSON-RPC `invalid_params` error.

use std::io::ErrorKind;

use crate::error::{Error, KeyProblem, NotGiven};

/// The text of a tool error: `"{op}: {what happened} — {what to do}"`.
pub fn tool_error(op: &str, e: &Error) -> String {
    let (what, hint) = describe(e);
    if hint.is_empty() {
        format!("{op}: {what}")
    } else {
        format!("{op}: {what} — {hint}")
    }
}

fn describe(e: &Error) -> (String, String) {
    if let Error::Jump { source, .. } = e {
        // The hop's own failure decides the advice.
        let (_, advice) = describe(source);
        return (e.chain(), advice);
    }
    if let Error::SecretMissing { cause, .. } = e {
        let (what, advice) = describe(cause);
        return (
            what,
            format!(
                "{advice}; or, with an MCP client that supports URL elicitation, the user types it \
                 on a one-time local page of this server"
            ),
        );
    }
    let advice: String = match e {
        Error::InvalidAddress { .. } => {
            "use host, host:port or [ipv6]:port, e.g. example.com:22".into()
        }
        Error::InvalidArgument(_) => "fix the argument and call again".into(),
        Error::Resolve { host, .. } => {
            format!("check the host name {host:?}; it does not resolve from this server")
        }
        Error::Connect { addr, source } => match source.kind() {
            ErrorKind::ConnectionRefused => format!("is sshd listening on {addr}?"),
            ErrorKind::TimedOut | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                format!("{addr} cannot be reached from this server; check the address and the network")
            }
            _ => format!("check the address {addr} and the network"),
        },
        Error::ConnectTimeout { addr, .. } => format!(
            "{addr} did not complete the SSH handshake in time; the host may be down, or a firewall may drop packets"
        ),
        Error::HostKeyMismatch { host, file, .. } => format!(
            "REFUSED: this may be a man-in-the-middle attack, or the host was reinstalled. Do not retry. \
             If the operator confirms the new key is legitimate, they can remove the old entry with \
             `ssh-keygen -R '{host}' -f {}` and connect again",
            file.display()
        ),
        Error::HostKeyUnknown { host, .. } => format!(
            "the host-key policy refuses unknown hosts (strict, or ask with a client that cannot \
             ask the user). Ask the operator to verify the fingerprint and add the key to known_hosts \
             (e.g. `ssh-keyscan` for {host}, checked against `ssh-keygen -lf` on the server)"
        ),
        Error::HostKeyNotConfirmed { .. } => {
            "REFUSED by the user: do not retry on your own; ask the user how to proceed".into()
        }
        Error::HostCertificate { .. } => {
            "REFUSED: do not retry; the operator must check the server's HostCertificate and the @cert-authority lines of known_hosts".into()
        }
        Error::HostKeyRevoked { .. } => {
            "REFUSED: the operator has revoked this key; do not retry".into()
        }
        Error::KnownHostsFile { .. } => {
            "the operator must fix the known_hosts file or its permissions".into()
        }
        Error::AuthFailed { .. } => {
            "check the username and credentials; pass password, or key_path (and passphrase if the key is encrypted)".into()
        }
        Error::KeyFile { path, problem } => match problem {
            KeyProblem::NotAKey => format!(
                "check key_path {}: it must name a private key file this server can read, in OpenSSH, PKCS#8 or PEM format (ed25519, ecdsa or rsa; not a public key or .ppk)",
                path.display()
            ),
            KeyProblem::Encrypted => "pass the key's passphrase in `passphrase`".into(),
            KeyProblem::WrongPassphrase => "check `passphrase`".into(),
        },
        Error::SecretNotGiven {
            why: NotGiven::Declined | NotGiven::Cancelled,
            ..
        } => "REFUSED by the user: do not try to work around it (no other credentials or \
              accounts); ask the user how to proceed"
            .into(),
        Error::SecretNotGiven { .. } => {
            "call the tool again for a new link if the user still wants to type it".into()
        }
        Error::SecretMissing { .. } => String::new(),
        Error::Agent(_) => "check that ssh-agent runs and SSH_AUTH_SOCK points at it".into(),
        Error::Ssh(_) => "the connection failed; try again, or ssh_connect anew".into(),
        Error::SessionNotFound(_) => {
            "it was disconnected or never existed; call ssh_list_sessions to see open sessions, or ssh_connect to open one".into()
        }
        Error::SessionClosed { .. }
        | Error::ClosedBeforeStart { .. }
        | Error::DroppedBeforeStart => {
            "call the tool again to reconnect this session, or ssh_connect anew".into()
        }
        Error::Policy(_) => {
            "the operator does not allow this here; do not try to work around it, ask the user instead".into()
        }
        Error::Limit(_) => "wait for running work to finish, or close sessions you no longer need".into(),
        Error::JobNotFound(_) => "the job id is wrong, or the job finished long ago and was forgotten; call ssh_list_sessions to see jobs".into(),
        Error::ChannelOpen(_) => {
            "the server may limit open channels: close shells, jobs or forwards no longer needed, or ssh_disconnect and ssh_connect anew".into()
        }
        Error::ExecRefused => {
            "this server may not run commands for this account (an SFTP-only server, a forced command or a restricted shell); ssh_upload, ssh_download and ssh_list_dir may still work".into()
        }
        Error::TerminalRefused => {
            "the server allows no terminal for this account (PermitTTY no, or a no-pty key option); use ssh_execute".into()
        }
        Error::ShellStart(_) => {
            "the shell was closed, but a given command may have run: check with ssh_execute before opening it again".into()
        }
        Error::ForwardRefused(_) => {
            "the server does not allow this forward; try another port, a local forward, or ask the user".into()
        }
        Error::Bind { source, .. } if source.kind() == ErrorKind::AddrInUse => {
            "that port is already in use; choose another local_port, or 0 for any free port".into()
        }
        Error::Bind { .. } => "choose another local_port, or 0 for any free port".into(),
        Error::Sftp { problem, .. } if problem.contains("no such file") => {
            "check the path (ssh_list_dir shows what is there)".into()
        }
        Error::Sftp { problem, .. } if problem.contains("permission denied") => {
            "the remote user may not access this path; choose another".into()
        }
        Error::Sftp { .. } => String::new(),
        Error::SftpChannel(_) => {
            "the server's SFTP subsystem stopped answering; call the tool again to open a new SFTP channel".into()
        }
        Error::ForwardNotFound(_) => "call ssh_list_sessions to see the forwards".into(),
        Error::ShellNotFound(_) => "it ended or never existed; ssh_list_sessions shows open shells, ssh_shell_open opens one".into(),
        Error::NoSudoPassword => "the operator can set sudo_password_env or sudo_password_file on the named host in the config file, or connect with a password; or, with an MCP client that supports URL elicitation, ssh_execute and ssh_shell_send ask the user to type it on a one-time page".into(),
        Error::Sudo(_) => "ask the operator to check the sudo password (sudo_password_env or sudo_password_file) and the account's sudo rights".into(),
        Error::Io { .. } | Error::Jump { .. } => String::new(),
    };
    (e.chain(), advice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn tool_error_should_name_the_operation_and_the_next_step() {
        let e = Error::Connect {
            addr: "h:22".into(),
            source: io::Error::from(ErrorKind::ConnectionRefused),
        };
        let s = tool_error("Failed to connect", &e);
        assert!(
            s.starts_with("Failed to connect: could not connect to h:22: "),
            "{s}"
        );
        assert!(s.ends_with("— is sshd listening on h:22?"), "{s}");
    }

    #[test]
    fn a_refused_channel_should_point_to_what_fits_a_shell() {
        let e = Error::ChannelOpen("the server kept closing the channel before starting".into());
        let s = tool_error("Failed to open shell", &e);
        assert!(s.contains("close shells, jobs or forwards"), "{s}");
        assert!(!s.contains("AllowTcpForwarding"), "{s}");
    }

    #[cfg(feature = "port_forward")]
    #[test]
    fn a_refused_forward_should_name_the_forwarding_settings() {
        let e = crate::ssh::tunnel::open_error(russh::Error::ChannelOpenFailure(
            russh::ChannelOpenFailure::AdministrativelyProhibited,
        ));
        let s = tool_error("Failed to forward", &e);
        assert!(s.contains("AdministrativelyProhibited"), "{s}");
        assert!(s.contains("AllowTcpForwarding or PermitOpen"), "{s}");
    }

    #[test]
    fn host_key_mismatch_should_show_both_fingerprints() {
        let e = Error::HostKeyMismatch {
            host: "[h]:2222".into(),
            offered: "SHA256:new".into(),
            recorded: "SHA256:old".into(),
            file: "/k".into(),
            line: 3,
        };
        let s = tool_error("Failed to connect", &e);
        assert!(s.contains("SHA256:new") && s.contains("SHA256:old") && s.contains("/k:3"));
        assert!(s.contains("ssh-keygen -R '[h]:2222' -f /k"));
    }

    #[test]
    fn a_missing_secret_should_keep_its_cause_and_name_the_page() {
        let cause = Error::AuthFailed {
            user: "u".into(),
            host: "h:22".into(),
            tried: "nothing".into(),
            accepts: "password".into(),
        };
        let e = Error::SecretMissing {
            secret: crate::error::MissingSecret::Password,
            host_key: "SHA256:x".into(),
            cause: Box::new(cause),
        };
        let s = tool_error("Failed to connect", &e);
        assert!(s.contains("authentication failed for u@h:22"), "{s}");
        assert!(
            s.contains("pass password") && s.contains("URL elicitation"),
            "{s}"
        );
        let refused = Error::SecretNotGiven {
            what: "the SSH password".into(),
            why: NotGiven::Declined,
        };
        let s = tool_error("Failed to connect", &refused);
        assert!(
            s.contains("the user declined") && s.contains("REFUSED by the user"),
            "{s}"
        );
        let expired = Error::SecretNotGiven {
            what: "the SSH password".into(),
            why: NotGiven::Expired,
        };
        assert!(tool_error("x", &expired).contains("call the tool again"));
    }
}
