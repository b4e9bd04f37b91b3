//! What the operator decides, not the model: flags and environment ([`cli`]), the config
//! file ([`file`]), the settings built from both ([`settings`]), the policy on hosts,
//! credentials and commands ([`policy`]), the host-key policy ([`host_key_policy`]), the host groups of
//! `ssh_fanout` ([`groups`]) and the
//! ssh client config whose aliases `ssh_connect` resolves ([`ssh_config`]).

pub mod cli;
pub mod file;
pub mod groups;
pub mod host_key_policy;
pub mod policy;
pub mod settings;
pub mod ssh_config;
