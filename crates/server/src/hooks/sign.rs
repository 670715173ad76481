//! Standard Webhooks signatures (standardwebhooks.com): the signed content is `{webhook-id}.{webhook-timestamp}.
//! {body}`, signed with HMAC-SHA256 under each secret in force; `webhook-signature` lists them as `v1,<base64>`,
//! separated by spaces, so a receiver that knows either the new or the rotated secret accepts the delivery.
//! Secrets are `whsec_` followed by the base64 of their bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    #[error("a webhook secret is `whsec_` and base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("a webhook secret has 24 to 64 bytes, this one {0}")]
    Length(usize),
}

impl Secret {
    /// 32 random bytes.
    pub fn generate() -> Secret {
        Secret(rand::random::<[u8; 32]>().to_vec())
    }

    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let b64 = text.strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(b64)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_key())
    }

    /// The base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[allow(
    clippy::panic,
    reason = "HMAC accepts keys of every length; this is never called"
)]
fn unreachable_key() -> Hmac<Sha256> {
    panic!("HMAC-SHA256 refused a key")
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(&self.0))
    }
}

/// The `webhook-signature` header for these secrets: `v1,<sig>` for each, space-separated.
pub fn header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| format!("v1,{}", s.signature(id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A receiver's check: the timestamp within `tolerance_secs` of `now_secs`, and one `v1` signature made with
/// one of `secrets` (compared in constant time).
pub fn verify(
    secrets: &[Secret],
    id: &str,
    timestamp: i64,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    use subtle::ConstantTimeEq;
    if (now_secs - timestamp).abs() > tolerance_secs {
        return false;
    }
    let expected: Vec<String> = secrets.iter().map(|s| s.signature(id, timestamp, body)).collect();
    signature_header.split(' ').any(|part| {
        part.strip_prefix("v1,").is_some_and(|sig| {
            expected
                .iter()
                .any(|e| bool::from(e.as_bytes().ct_eq(sig.as_bytes())))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's example: secret, id, timestamp and body, and the signature it
    /// publishes for them.
    #[test]
    fn the_specifications_example() {
        let secret =
            Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_both_and_either_verifies() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let h = header(&[new.clone(), old.clone()], "evt_1", 100, b"{}");
        assert_eq!(h.split(' ').count(), 2);
        assert!(verify(
            std::slice::from_ref(&old),
            "evt_1",
            100,
            &h,
            b"{}",
            100,
            300
        ));
        assert!(verify(
            std::slice::from_ref(&new),
            "evt_1",
            100,
            &h,
            b"{}",
            100,
            300
        ));
        assert!(!verify(&[Secret::generate()], "evt_1", 100, &h, b"{}", 100, 300));
        assert!(
            !verify(std::slice::from_ref(&old), "evt_1", 100, &h, b"{ }", 100, 300),
            "another body"
        );
        assert!(!verify(&[old], "evt_1", 100, &h, b"{}", 1000, 300), "too old");
        let text = new.to_string();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text).ok(), Some(new));
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        assert!(Secret::parse("nope").is_err());
    }
}
