//! A fleet of SSH hosts on one machine, for fan-out: a few sshd processes, each listening on
//! up to 15 loopback addresses besides its own (sshd listens on at most 16 sockets), named
//! `h01`… in a config file.

use crate::sshd::{self, Sshd, USER};

/// Named hosts `h01`…, each a loopback address of one of a few sshds.
pub struct Fleet {
    pub sshds: Vec<Sshd>,
    /// (name, address) in name order.
    pub hosts: Vec<(String, String)>,
}

/// Loopback addresses one sshd serves besides its own 127.0.0.1.
const PER_SSHD: usize = 15;

impl Fleet {
    pub fn start(n: usize) -> Self {
        Self::start_with(n, &[])
    }

    /// A fleet whose sshds have these `sshd_config` lines too.
    pub fn start_with(n: usize, lines: &[String]) -> Self {
        let mut sshds = Vec::new();
        let mut hosts = Vec::new();
        while hosts.len() < n {
            let count = PER_SSHD.min(n - hosts.len());
            let net = 10 + sshds.len();
            let addrs: Vec<String> = (1..=count).map(|j| format!("127.0.{net}.{j}")).collect();
            let mut b = Sshd::builder();
            for l in lines {
                b = b.config(l.clone());
            }
            for a in &addrs {
                b = b.config(format!("ListenAddress {a}"));
            }
            let sshd = b.start();
            for a in addrs {
                hosts.push((
                    format!("h{:02}", hosts.len() + 1),
                    format!("{a}:{}", sshd.port),
                ));
            }
            sshds.push(sshd);
        }
        Fleet { sshds, hosts }
    }

    /// `[hosts.*]` for every host of the fleet.
    pub fn config(&self) -> String {
        let key = sshd::user().key.display().to_string();
        self.hosts
            .iter()
            .map(|(name, addr)| named(name, addr, &key))
            .collect()
    }

    /// Connections the sshds accepted so far.
    pub fn accepted(&self) -> usize {
        self.sshds
            .iter()
            .map(|s| s.log().matches("Accepted publickey").count())
            .sum()
    }
}

pub fn named(name: &str, address: &str, key: &str) -> String {
    format!(
        "[hosts.{name}]\naddress = \"{address}\"\nuser = \"{USER}\"\nidentity_file = \"{key}\"\n"
    )
}
