//! Client networks as the throttle counts them: an IPv4 address's /24 and an IPv6 address's /56 by default
//! (one household, office or hosting customer), IPv4-mapped IPv6 addresses as IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A client network: its first address and prefix length, or unknown (no client address was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// A network of addresses.
    Prefix(IpAddr, u8),
    /// The front end did not say where the client is.
    Unknown,
}

impl Network {
    /// The network of `ip` with prefixes of `v4` and `v6` bits.
    pub fn of(ip: Option<IpAddr>, v4: u8, v6: u8) -> Network {
        let Some(ip) = ip else { return Network::Unknown };
        let ip = match ip {
            IpAddr::V6(v6addr) => v6addr.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4addr => v4addr,
        };
        match ip {
            IpAddr::V4(a) => {
                let bits = v4.min(32);
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                Network::Prefix(IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)), bits)
            }
            IpAddr::V6(a) => {
                let bits = v6.min(128);
                let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                Network::Prefix(IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)), bits)
            }
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Network::Prefix(ip, bits) => write!(f, "{ip}/{bits}"),
            Network::Unknown => f.write_str("(unknown)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str) -> String {
        Network::of(Some(ip.parse().unwrap()), 24, 56).to_string()
    }

    #[test]
    fn addresses_fall_into_their_networks() {
        assert_eq!(net("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("::ffff:192.0.2.77"), "192.0.2.0/24");
        assert_eq!(net("2001:db8:1:2ff:1::9"), "2001:db8:1:200::/56");
        assert_eq!(Network::of(Some("127.0.0.2".parse().unwrap()), 32, 128).to_string(), "127.0.0.2/32");
        assert_eq!(Network::of(None, 24, 56).to_string(), "(unknown)");
    }
}
