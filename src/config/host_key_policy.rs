//! The host-key policy: what to do with a host whose key is not recorded.

use std::str::FromStr;

/// What to do with a host whose key is not recorded, OpenSSH's `StrictHostKeyChecking`.
/// A key that differs from a recorded one is refused under every policy but `Off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Unknown hosts are refused (`StrictHostKeyChecking yes`).
    Strict,
    /// The user is asked about unknown hosts (MCP elicitation); without a client that can
    /// ask, they are refused.
    Ask,
    /// Unknown hosts are recorded and accepted; changed keys are refused. With a client
    /// that can ask the user (MCP elicitation), the user is asked first.
    #[default]
    AcceptNew,
    /// No verification at all. Only an operator can choose this, and every result says so.
    Off,
}

impl HostKeyPolicy {
    /// How strict the policy is: `Off` < `AcceptNew` < `Ask` < `Strict`.
    fn rank(self) -> u8 {
        match self {
            Self::Off => 0,
            Self::AcceptNew => 1,
            Self::Ask => 2,
            Self::Strict => 3,
        }
    }

    /// The stricter of two policies: what an ssh client config asks for may tighten the
    /// operator's policy, never loosen it.
    pub fn at_least(self, floor: Self) -> Self {
        if self.rank() >= floor.rank() {
            self
        } else {
            floor
        }
    }
}

impl FromStr for HostKeyPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "yes" => Ok(Self::Strict),
            "ask" => Ok(Self::Ask),
            "accept-new" | "accept_new" => Ok(Self::AcceptNew),
            "off" | "no" => Ok(Self::Off),
            _ => Err(format!(
                "unknown host key policy {s:?}: use strict, ask, accept-new or off"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_should_parse_openssh_and_our_spellings() {
        assert_eq!("yes".parse(), Ok(HostKeyPolicy::Strict));
        assert_eq!("accept-new".parse(), Ok(HostKeyPolicy::AcceptNew));
        assert_eq!("off".parse(), Ok(HostKeyPolicy::Off));
        assert!("maybe".parse::<HostKeyPolicy>().is_err());
    }
}
