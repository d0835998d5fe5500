//! Where the services may send requests on a unit's behalf (webhooks,
//! 企业微信 robots, SMS gateways, event subscriptions).
//!
//! A URL a unit types in must not turn the service into a way into the
//! deployment's own network (SSRF): a webhook at `169.254.169.254` would read
//! the cloud's metadata, one at `127.0.0.1:5432` would probe the database.
//! Loopback, link-local, private (RFC 1918), shared (100.64/10), unique-local
//! (fc00::/7), multicast, unspecified and reserved addresses are refused,
//! unless the operator admits a host or a network explicitly
//! (`ZG_CHANNEL_ALLOW`: government SMS gateways often live on an intranet).
//!
//! The policy is checked when a URL is saved and again when connecting: the
//! [`GuardedResolver`] resolves the name, drops every address the policy
//! refuses, and the HTTP client connects to an address it returned, so a DNS
//! answer cannot change between the check and the connection. A URL whose
//! host is an address literal never reaches a resolver: [`EgressPolicy::check_url`]
//! judges it before the request is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// A network written as `address/prefix` (`10.8.0.0/16`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or a network (a.b.c.d/n)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

/// What the operator admits beside the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    hosts: Vec<String>,
    networks: Vec<Cidr>,
}

/// Why a target is refused. Its text names the rule, never what lies
/// behind the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressRefused {
    /// Not an http(s) URL with a host.
    #[error("{0:?} is not an http(s) URL with a host")]
    NotAUrl(String),
    /// The host is (or resolves to) an address of the deployment's own
    /// networks, and the operator has not admitted it.
    #[error(
        "{0} is an internal address (loopback, private, link-local or reserved); an operator may admit it with ZG_CHANNEL_ALLOW"
    )]
    Internal(String),
    /// The name does not resolve.
    #[error("{0} does not resolve")]
    Unresolved(String),
}

impl EgressPolicy {
    /// Reads `ZG_CHANNEL_ALLOW`: host names and networks, separated by commas
    /// or spaces (`sms.gov.internal, 10.20.0.0/16, 192.168.5.7`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for item in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
        {
            if item.parse::<IpAddr>().is_ok() || item.contains('/') {
                policy.networks.push(item.parse()?);
            } else if item
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                policy
                    .hosts
                    .push(item.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("{item:?} is not a host name, address or network"));
            }
        }
        Ok(policy)
    }

    fn admits_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// True when a request may go to `ip` (for a host the operator did not
    /// admit by name).
    pub fn admits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.networks.iter().any(|network| network.contains(ip))
    }

    /// The check a URL passes before it is saved or sent: its scheme and
    /// host, and for an address literal, the address.
    pub fn check_url(&self, url: &str) -> Result<Target, EgressRefused> {
        let parsed = url::Url::parse(url).map_err(|_| EgressRefused::NotAUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EgressRefused::NotAUrl(url.to_owned()));
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.literal(IpAddr::V4(ip), port),
            Some(url::Host::Ipv6(ip)) => self.literal(IpAddr::V6(ip), port),
            Some(url::Host::Domain(name)) => Ok(Target::Name {
                host: name.to_owned(),
                port,
                admitted: self.admits_host(name),
            }),
            None => Err(EgressRefused::NotAUrl(url.to_owned())),
        }
    }

    fn literal(&self, ip: IpAddr, port: u16) -> Result<Target, EgressRefused> {
        if self.admits(ip) {
            Ok(Target::Address(SocketAddr::new(ip, port)))
        } else {
            Err(EgressRefused::Internal(ip.to_string()))
        }
    }

    /// The full check when a URL is saved: [`Self::check_url`], then the
    /// name resolved and every address it answers judged. A name that does
    /// not resolve is refused too: nobody can tell what it will point to.
    pub async fn check_url_resolving(&self, url: &str) -> Result<(), EgressRefused> {
        match self.check_url(url)? {
            Target::Address(_) | Target::Name { admitted: true, .. } => Ok(()),
            Target::Name { host, port, .. } => {
                self.resolve(&host, port).await?;
                Ok(())
            }
        }
    }

    /// The addresses of `host` that the policy admits; refused when it
    /// admits none (a name that answers an internal address among public
    /// ones is refused whole: it is meant to reach inside).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressRefused> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| EgressRefused::Unresolved(host.to_owned()))?
            .collect();
        if found.is_empty() {
            return Err(EgressRefused::Unresolved(host.to_owned()));
        }
        if self.admits_host(host) {
            return Ok(found);
        }
        if let Some(internal) = found.iter().find(|address| !self.admits(address.ip())) {
            return Err(EgressRefused::Internal(format!(
                "{host} ({})",
                internal.ip()
            )));
        }
        Ok(found)
    }

    /// The resolver an HTTP client connects through, so that the policy
    /// holds for the address actually connected to.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// Where a checked URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An address literal the policy admits.
    Address(SocketAddr),
    /// A name, to be resolved (and judged) when connecting.
    Name {
        /// The host name.
        host: String,
        /// The port (the scheme's when the URL names none).
        port: u16,
        /// The operator admitted this host by name.
        admitted: bool,
    },
}

/// A DNS resolver for reqwest that answers only addresses the policy admits.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: EgressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is the URL's: reqwest sets it on the addresses we answer.
            match policy.resolve(&host, 0).await {
                Ok(addresses) => {
                    Ok(Box::new(addresses.into_iter())
                        as Box<dyn Iterator<Item = SocketAddr> + Send>)
                }
                Err(refused) => {
                    metrics::counter!("zg_egress_refused_total").increment(1);
                    Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Addresses of the deployment's own networks, or of none: never a target
/// for a unit's URL unless admitted.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => is_internal_v6(ip),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space, 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18/15
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64, may reach IPv4 inside
        || first == 0x2002 // 6to4: carries an IPv4 address inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_admitted() {
        for internal in [
            "127.0.0.1",
            "127.8.8.8",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2002:0a00:0001::1",
        ] {
            assert!(is_internal(ip(internal)), "{internal} is internal");
            assert!(!EgressPolicy::default().admits(ip(internal)), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2400:3200::1",
            "::ffff:1.2.3.4",
        ] {
            assert!(!is_internal(ip(public)), "{public} is public");
            assert!(EgressPolicy::default().admits(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_operator_admits_networks_and_hosts() {
        let policy = EgressPolicy::parse("sms.gov.internal, 10.20.0.0/16 192.168.5.7").unwrap();
        assert!(policy.admits(ip("10.20.3.4")));
        assert!(!policy.admits(ip("10.21.0.1")));
        assert!(policy.admits(ip("192.168.5.7")));
        assert!(!policy.admits(ip("192.168.5.8")));
        assert!(policy.admits_host("SMS.gov.internal."));
        assert!(!policy.admits_host("other.gov.internal"));
        assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
        assert!(EgressPolicy::parse("http://x").is_err());
        assert_eq!(EgressPolicy::parse("").unwrap(), EgressPolicy::default());
    }

    #[test]
    fn urls_are_judged_by_their_scheme_and_literal_host() {
        let policy = EgressPolicy::default();
        assert!(matches!(
            policy.check_url("http://169.254.169.254/latest/meta-data"),
            Err(EgressRefused::Internal(_))
        ));
        assert!(matches!(
            policy.check_url("http://[::ffff:127.0.0.1]:5432/"),
            Err(EgressRefused::Internal(_))
        ));
        // Decimal and short forms of 127.0.0.1 are still 127.0.0.1.
        assert!(matches!(
            policy.check_url("http://2130706433/"),
            Err(EgressRefused::Internal(_))
        ));
        assert!(matches!(
            policy.check_url("http://127.1/"),
            Err(EgressRefused::Internal(_))
        ));
        assert!(matches!(
            policy.check_url("ftp://8.8.8.8/"),
            Err(EgressRefused::NotAUrl(_))
        ));
        assert_eq!(
            policy.check_url("https://8.8.8.8/hook").unwrap(),
            Target::Address("8.8.8.8:443".parse().unwrap())
        );
        assert!(matches!(
            policy.check_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"),
            Ok(Target::Name {
                admitted: false,
                port: 443,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_unless_admitted() {
        let policy = EgressPolicy::default();
        assert!(matches!(
            policy.check_url_resolving("http://localhost:8080/").await,
            Err(EgressRefused::Internal(_))
        ));
        let admitted = EgressPolicy::parse("localhost").unwrap();
        assert!(
            admitted
                .check_url_resolving("http://localhost:8080/")
                .await
                .is_ok()
        );
        let by_network = EgressPolicy::parse("127.0.0.0/8, ::1").unwrap();
        assert!(
            by_network
                .check_url_resolving("http://localhost:8080/")
                .await
                .is_ok()
        );
    }
}
