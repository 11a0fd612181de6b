//! The SSRF guard for webhook URLs: a member must not be able to make the hub send
//! requests into its own network. A URL is refused when its host resolves to any
//! loopback, private, link-local (cloud metadata lives there), carrier-grade NAT,
//! multicast, broadcast or unspecified address, unless the host is on the configured
//! allow-list (tests, or a receiver deliberately on an internal network). It is checked
//! when the webhook is registered and again, with the resolved address pinned, at every
//! delivery, so a name that later resolves elsewhere (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("must be an absolute http(s) URL")]
    NotAUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry user name or password")]
    Credentials,
    #[error("the host does not resolve")]
    Unresolvable,
    #[error("resolves to a loopback, private, link-local, multicast or metadata address")]
    Forbidden,
}

/// What the guard allows.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Only `https` (production).
    pub https_only: bool,
    /// Hosts (names or addresses, as written in the URL) exempt from the address check.
    pub allowed_hosts: Vec<String>,
}

/// Whether an address is one the hub must never be made to call.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is AWS metadata)
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local() // 169.254.0.0/16, cloud metadata at 169.254.169.254
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_unspecified()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
}

/// Checks `raw` and returns the parsed URL with the addresses it may be called at.
pub async fn check(
    raw: &str,
    policy: &UrlPolicy,
) -> Result<(url::Url, Vec<SocketAddr>), SsrfError> {
    let url = url::Url::parse(raw).map_err(|_| SsrfError::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.https_only => {}
        "http" => return Err(SsrfError::NotHttps),
        _ => return Err(SsrfError::NotAUrl),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SsrfError::Credentials);
    }
    let host = url.host_str().ok_or(SsrfError::NotAUrl)?.to_string();
    let port = url.port_or_known_default().ok_or(SsrfError::NotAUrl)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| SsrfError::Unresolvable)?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(SsrfError::Unresolvable);
    }
    let allowed = policy.allowed_hosts.iter().any(|h| h == &host || h == bare);
    if !allowed && addrs.iter().any(|a| forbidden(a.ip())) {
        return Err(SsrfError::Forbidden);
    }
    Ok((url, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden_and_public_ones_are_not() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(
                forbidden(bad.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                "{bad}"
            );
        }
        for good in ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"] {
            assert!(
                !forbidden(good.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
                "{good}"
            );
        }
    }
}
