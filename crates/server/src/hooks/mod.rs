//! Webhook delivery (issue 14): Standard Webhooks signatures ([`sign`]), the retry schedule ([`schedule`]) and
//! the dispatcher that turns events into deliveries and sends them ([`dispatch`]), at least once, without a write
//! ever waiting for a receiver.

pub mod dispatch;
pub mod schedule;
pub mod sign;

pub use dispatch::{Clock, Dispatcher, ManualClock, Options, SystemClock, TickReport, Wake};
pub use sign::{Secret, SecretError};

/// Why an endpoint URL is refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

/// An endpoint's URL: `http` or `https`, a host, at most 2,048 characters, no credentials; and, unless
/// `allow_private`, no loopback, private, link-local or unspecified address literal and no `localhost` (an
/// outsider who may create endpoints must not make the server call into its own network). Names are not
/// resolved here: an operator who fears DNS rebinding runs the server where its network allows only the outside.
pub fn validate_url(url: &str, allow_private: bool) -> Result<(), UrlError> {
    if url.len() > 2048 {
        return Err(UrlError("url: at most 2048 characters".into()));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| UrlError(format!("url: not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlError(format!(
            "url: `{}` is not http or https",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError(
            "url: no credentials in the URL (the signature says who sends)".into(),
        ));
    }
    let Some(host) = parsed.host() else {
        return Err(UrlError("url: no host".into()));
    };
    if allow_private {
        return Ok(());
    }
    let private = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost"),
        url::Host::Ipv4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
        }
        url::Host::Ipv6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    if private {
        return Err(UrlError(
            "url: a loopback, private or link-local address; the server refuses them unless started with \
             --webhooks-allow-private"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("https://hooks.example.com/x", false).is_ok());
        assert!(validate_url("ftp://example.com", false).is_err());
        assert!(validate_url("https://user:pw@example.com", false).is_err());
        assert!(validate_url("http://127.0.0.1:9/x", false).is_err());
        assert!(validate_url("http://10.1.2.3/x", false).is_err());
        assert!(validate_url("http://[::1]/x", false).is_err());
        assert!(validate_url("http://localhost/x", false).is_err());
        assert!(validate_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(validate_url(&format!("https://e.com/{}", "a".repeat(2100)), true).is_err());
    }
}
