//! What `ssh_connect` does before a session exists: turning its arguments into a
//! connection request (named hosts, the ssh client config, ProxyJump, the operator's
//! policy), and connecting with the user's confirmation of an unknown host key.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::InputRequiredResult;
use rmcp::service::RequestContext;

use crate::address::Address;
use crate::config::host_key_policy::HostKeyPolicy;
use crate::config::ssh_config::ClientConfig;
use crate::error::Error;
use crate::error::MissingSecret;
use crate::manager::Entry;
use crate::mcp::SshMcp;
use crate::mcp::ask_secret::{AskOutcome, Purpose, SecretRequest};
use crate::mcp::confirm::{self, Answer, Asking};
use crate::mcp::types::ConnectParams;
use crate::paths::expand_tilde;
use crate::ssh::auth::Credentials;
use crate::ssh::session::ConnectRequest;

impl SshMcp {
    /// Connects. Where the host-key policy is `accept-new` or `ask` and the client can ask
    /// the user (see [`confirm`]), an unknown host's key is shown to the user first, and
    /// recorded only if they trust it; `state` and `responses` carry their answer on
    /// protocol 2026-07-28 (for either question).
    ///
    /// A secret authentication lacks (a password, a key's passphrase) is asked from the
    /// user on a one-time page where the client supports URL elicitation (see
    /// [`ask_secret`](crate::mcp::ask_secret)); it is then kept with the session, for
    /// reconnects.
    pub(crate) async fn connect_confirming(
        &self,
        req: ConnectRequest,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Connected, Error> {
        let responses = responses.unwrap_or_default();
        let (key_state, secret_state) = match state {
            Some(s) if confirm::is_host_key_state(&s) => (Some(s), None),
            other => (None, other),
        };
        let first = self
            .connect_checking_host_key(req.clone(), key_state, &responses, ctx)
            .await;
        let Err(Error::SecretMissing {
            secret,
            host_key,
            cause,
        }) = first
        else {
            return first;
        };
        let ask = SecretRequest {
            purpose: match secret {
                MissingSecret::Password => Purpose::Password,
                MissingSecret::Passphrase(_) => Purpose::Passphrase,
            },
            host: req.address.host.clone(),
            port: req.address.port,
            user: req.username.clone(),
            fingerprint: Some(host_key.clone()).filter(|f| !f.is_empty()),
            // A passphrase answers for the key it was asked for only.
            binding: match &secret {
                MissingSecret::Password => String::new(),
                MissingSecret::Passphrase(key) => key.display().to_string(),
            },
        };
        let answer = secret_state.as_deref().map(|s| (s, &responses));
        let typed = match self.ask_secret(ctx, answer, &ask).await? {
            AskOutcome::Given(typed) => typed,
            AskOutcome::AskFirst(question) => return Ok(Connected::AskFirst(question)),
            AskOutcome::CannotAsk => {
                return Err(Error::SecretMissing {
                    secret,
                    host_key,
                    cause,
                });
            }
        };
        // The host key, if the user had to confirm it, was recorded by the first attempt.
        let mut req = req;
        match secret {
            MissingSecret::Password => req.credentials.password = Some(typed),
            MissingSecret::Passphrase(_) => req.credentials.passphrase = Some(typed),
        }
        let owner = Self::owner(ctx);
        self.manager
            .connect(&req, owner.as_deref())
            .await
            .map(|entry| Connected::Open(entry, req))
    }

    /// Connects, asking the user about an unknown host key where the policy and the client
    /// allow; `state` and `responses` carry their answer on protocol 2026-07-28.
    async fn connect_checking_host_key(
        &self,
        mut req: ConnectRequest,
        state: Option<String>,
        responses: &rmcp::model::InputResponses,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Connected, Error> {
        let owner = Self::owner(ctx);
        let policy = req
            .host_key_policy
            .unwrap_or(self.manager.settings().host_key_policy);
        let asking = match policy {
            HostKeyPolicy::AcceptNew | HostKeyPolicy::Ask => confirm::how_to_ask(ctx),
            HostKeyPolicy::Strict | HostKeyPolicy::Off => Asking::No,
        };
        let target = format!("{}@{}", req.username, req.address);
        // An answer counts only where the policy asks: it never overrides `strict`.
        let may_confirm = matches!(policy, HostKeyPolicy::AcceptNew | HostKeyPolicy::Ask);
        if let Some(state) = state.filter(|_| may_confirm) {
            let fingerprint = confirm::answered(&state, responses, &target, owner.as_deref())?;
            req.host_key_policy = Some(HostKeyPolicy::Ask);
            req.confirmed_host_key = Some(fingerprint);
        } else if asking != Asking::No {
            req.host_key_policy = Some(HostKeyPolicy::Ask);
        }
        let first = self.manager.connect(&req, owner.as_deref()).await;
        let (host, offered) = match first {
            Err(Error::HostKeyUnknown { host, offered })
                if asking != Asking::No && req.confirmed_host_key.is_none() =>
            {
                (host, offered)
            }
            other => return other.map(|entry| Connected::Open(entry, req)),
        };
        // The client cannot be asked after all: the configured policy decides.
        let fall_back = |req: &mut ConnectRequest, host: String, offered: String| {
            if policy == HostKeyPolicy::AcceptNew {
                req.host_key_policy = Some(HostKeyPolicy::AcceptNew);
                Ok(())
            } else {
                Err(Error::HostKeyUnknown { host, offered })
            }
        };
        match asking {
            Asking::InputRequired => {
                match confirm::input_required(&host, &offered, &target, owner.as_deref()) {
                    Ok(question) => return Ok(Connected::AskFirst(question)),
                    Err(_) => fall_back(&mut req, host, offered)?,
                }
            }
            Asking::No => return Err(Error::HostKeyUnknown { host, offered }),
            Asking::Push => match confirm::ask_now(ctx, &host, &offered).await {
                Answer::Trust => req.confirmed_host_key = Some(offered),
                Answer::Refused(why) => {
                    return Err(Error::HostKeyNotConfirmed { host, offered, why });
                }
                Answer::Unavailable => fall_back(&mut req, host, offered)?,
            },
        }
        self.manager
            .connect(&req, owner.as_deref())
            .await
            .map(|entry| Connected::Open(entry, req))
    }

    /// Turns `ssh_connect` arguments into a connection request, resolving named hosts and
    /// applying the operator's policy.
    pub(crate) fn connect_request(&self, p: ConnectParams) -> Result<ConnectRequest, Error> {
        let settings = self.manager.settings();
        let policy = &settings.policy;
        let password = p.password.filter(|s| !s.is_empty());
        let key_path = p
            .key_path
            .filter(|k| !k.trim().is_empty())
            .map(|k| expand_tilde(k.trim()));
        let passphrase = p.passphrase.filter(|s| !s.is_empty());
        let gave_credentials = password.is_some() || key_path.is_some() || passphrase.is_some();
        if let Some(k) = &key_path
            && let Some(name) = named_host_key(k, settings)
        {
            return Err(Error::Policy(format!(
                "key_path names the key of the named host {name}; connect to {name} instead"
            )));
        }
        if gave_credentials && !policy.credentials_in_arguments() {
            return Err(Error::Policy(
                "credentials may not be passed as tool arguments here; connect to one of the named hosts the operator configured".into(),
            ));
        }
        let named = p.address.trim();
        let mut req = match settings.hosts.get(named) {
            Some(h) => ConnectRequest {
                address: Address::parse(&h.address, 22)?,
                username: h.user.clone().unwrap_or_default(),
                credentials: Credentials {
                    password: h.password()?,
                    key_path: h.identity(),
                    passphrase: h.passphrase()?,
                    ..Default::default()
                },
                host_key_policy: match &h.host_key_policy {
                    Some(s) => Some(s.parse().map_err(Error::InvalidArgument)?),
                    None => None,
                },
                name: Some(named.to_string()),
                named_host: true,
                ..Default::default()
            },
            None => {
                // Port 0 stands for "not given", so that the ssh config's Port can apply.
                let given = Address::parse(&p.address, 0)?;
                let mut req = ConnectRequest {
                    address: Address {
                        host: given.host.clone(),
                        port: if given.port == 0 { 22 } else { given.port },
                    },
                    ..Default::default()
                };
                if let Some(cfg) = &settings.ssh_config {
                    let r = cfg.resolve(&given.host);
                    // An alias: the config says something of its own about this name.
                    let alias = r.host != given.host.to_ascii_lowercase()
                        || r.port.is_some()
                        || r.user.is_some()
                        || !r.identity_files.is_empty()
                        || !r.proxy_jump.is_empty();
                    req.name = alias.then(|| given.host.clone());
                    let floor = settings.host_key_policy;
                    req.jumps = r
                        .proxy_jump
                        .iter()
                        .map(|hop| jump_request(hop, cfg, floor, settings))
                        .collect::<Result<_, _>>()?;
                    req.address = Address {
                        host: r.host,
                        port: match given.port {
                            0 => r.port.unwrap_or(22),
                            p => p,
                        },
                    };
                    req.username = r.user.unwrap_or_default();
                    req.credentials.identity_files = r.identity_files;
                    req.credentials.identities_only = r.identities_only;
                    req.known_hosts = known_hosts_files(r.known_hosts, settings);
                    req.host_key_policy = r.host_key_policy.map(|p| p.at_least(floor));
                    req.connect_timeout = r.connect_timeout;
                    req.keepalive = r.keepalive;
                }
                check_real_host(&req.address)?;
                policy.check_host(&req.address.host, req.address.port)?;
                req.check_addresses = true;
                req
            }
        };
        if let Some(h) = settings.hosts.get(named)
            && let (Some(configured), Some(asked)) = (
                h.user.as_deref(),
                p.username
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty()),
            )
            && configured != asked
            && !h.allow_user_override
        {
            return Err(Error::Policy(format!(
                "the named host {named} logs in as the user its operator configured; leave username out (the operator may set allow_user_override for this host)"
            )));
        }
        if gave_credentials {
            req.credentials.password = password;
            req.credentials.key_path = key_path;
            req.credentials.passphrase = passphrase.or(req.credentials.passphrase.take());
        }
        let username = p
            .username
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .or(Some(std::mem::take(&mut req.username)).filter(|u| !u.is_empty()))
            .or_else(local_user)
            .ok_or_else(|| {
                Error::InvalidArgument("username is required (no local user name known)".into())
            })?;
        req.username = username;
        Ok(req)
    }
}

/// The request for one ProxyJump hop, `[user@]host[:port]`, itself resolved through the
/// ssh config (its own ProxyJump is not followed). Hops authenticate with the agent and
/// identity files, never with the password given for the destination.
fn jump_request(
    spec: &str,
    cfg: &ClientConfig,
    floor: HostKeyPolicy,
    settings: &crate::config::settings::Settings,
) -> Result<ConnectRequest, Error> {
    let (user, host) = match spec.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, spec),
    };
    let given = Address::parse(host, 0)?;
    let r = cfg.resolve(&given.host);
    let address = Address {
        host: r.host,
        port: match given.port {
            0 => r.port.unwrap_or(22),
            p => p,
        },
    };
    check_real_host(&address)?;
    Ok(ConnectRequest {
        address,
        username: user
            .or(r.user)
            .or_else(local_user)
            .ok_or_else(|| Error::InvalidArgument(format!("no user name for jump host {spec}")))?,
        credentials: Credentials {
            identity_files: r.identity_files,
            identities_only: r.identities_only,
            ..Default::default()
        },
        host_key_policy: r.host_key_policy.map(|p| p.at_least(floor)),
        known_hosts: known_hosts_files(r.known_hosts, settings),
        connect_timeout: r.connect_timeout,
        keepalive: r.keepalive,
        confirmed_host_key: None,
        jumps: Vec::new(),
        check_addresses: false,
        name: None,
        named_host: false,
    })
}

/// The known_hosts files for a host whose ssh client config names `UserKnownHostsFile`s:
/// those (where new keys are recorded) and the server's own, which the client config may
/// add to but not take away; `/dev/null` would forget every key and is left out.
fn known_hosts_files(
    from_config: Vec<std::path::PathBuf>,
    settings: &crate::config::settings::Settings,
) -> Vec<std::path::PathBuf> {
    if from_config.is_empty() {
        return Vec::new();
    }
    let mut files: Vec<std::path::PathBuf> = from_config
        .into_iter()
        .filter(|f| f.as_path() != std::path::Path::new("/dev/null"))
        .collect();
    for f in settings.known_hosts() {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    files
}

/// The named host whose identity file `key` is (by path or by file identity): such a key
/// is the operator's, for that host's account only.
fn named_host_key(
    key: &std::path::Path,
    settings: &crate::config::settings::Settings,
) -> Option<String> {
    let same = |other: &std::path::Path| crate::local_paths::same_file_at(key, other);
    settings
        .hosts
        .iter()
        .find(|(_, h)| h.identity().is_some_and(|id| same(&id)))
        .map(|(name, _)| name.clone())
}

/// Refuses an ssh client config `HostName` that is not a host (a pattern, say).
fn check_real_host(address: &Address) -> Result<(), Error> {
    if crate::address::is_real_host(&address.host) {
        Ok(())
    } else {
        Err(Error::InvalidAddress {
            address: address.host.clone(),
            reason: "the ssh client config gives a HostName that is not a host name or address",
        })
    }
}

fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// How a connect ended: a session, or first a question for the user (protocol 2026-07-28).
pub(crate) enum Connected {
    Open(Arc<Entry>, ConnectRequest),
    AskFirst(InputRequiredResult),
}
