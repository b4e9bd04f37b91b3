//! The algorithms we ask for: host key types (the ones known_hosts holds for the host
//! first), host certificates where a CA is trusted, and the cipher order.

use russh::Preferred;
use russh::keys::Algorithm;

/// Host certificate algorithms to ask for when a CA is trusted for the host.
pub const CERTIFICATE_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: russh::keys::EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: russh::keys::EcdsaCurve::NistP384,
    },
    Algorithm::Rsa {
        hash: Some(russh::keys::HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(russh::keys::HashAlg::Sha256),
    },
];

/// russh's default host-key algorithm list, with the algorithms already recorded for this
/// host moved to the front, as OpenSSH does: a server with several keys then shows the one
/// we know instead of looking like a new host.
pub fn preferred_key_algorithms(known: &[Algorithm]) -> Vec<Algorithm> {
    let family = |a: &Algorithm| match a {
        Algorithm::Rsa { .. } => Algorithm::Rsa { hash: None },
        other => other.clone(),
    };
    let known: Vec<Algorithm> = known.iter().map(family).collect();
    let mut algs = russh::Preferred::DEFAULT.key.to_vec();
    algs.sort_by_key(|a| !known.contains(&family(a)));
    algs
}

/// russh's cipher list with AES-256-GCM first where the CPU has AES and carry-less
/// multiply instructions (AES-NI and PCLMULQDQ, or the ARMv8 crypto extensions): there it
/// costs a third of the CPU of chacha20-poly1305 per byte, which russh's backend computes
/// with a portable Poly1305. Elsewhere chacha20-poly1305 stays first, as in OpenSSH.
pub fn preferred_ciphers() -> Vec<russh::cipher::Name> {
    let mut order = Preferred::DEFAULT.cipher.to_vec();
    if aes_in_hardware() {
        order.sort_by_key(|c| *c != russh::cipher::AES_256_GCM);
    }
    order
}

#[cfg(target_arch = "x86_64")]
fn aes_in_hardware() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn aes_in_hardware() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn aes_in_hardware() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_gcm_should_come_first_only_with_hardware_aes() {
        let order = preferred_ciphers();
        let first = if aes_in_hardware() {
            russh::cipher::AES_256_GCM
        } else {
            russh::cipher::CHACHA20_POLY1305
        };
        assert_eq!(order.first(), Some(&first));
        assert_eq!(order.len(), Preferred::DEFAULT.cipher.len());
    }
}
