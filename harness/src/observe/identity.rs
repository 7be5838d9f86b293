//! Stable names for endpoints, so that observations survive pod IPs changing between runs.
//!
//! An endpoint of a Service port is named by the node it runs on (the EndpointSlice endpoint's
//! `nodeName`). When a Service port has several endpoints on one node they are numbered
//! `node#1`, `node#2`, … in kube-proxy's endpoint order: the plain string order of `"IP:port"`
//! (so `10.0.1.10:80` comes before `10.0.1.2:80`). Endpoints without a `nodeName`, and
//! addresses the state does not know, keep their `IP:port`.
//!
//! The same identities are used for dataplane normalization and for golden snapshots:
//!
//! ```
//! use topo_harness::observe::identity::{assign_identities, join_host_port};
//! let ids = assign_identities([
//!     (join_host_port("10.0.1.2", 80), Some("worker")),
//!     (join_host_port("10.0.1.10", 80), Some("worker")),
//!     (join_host_port("10.0.2.1", 80), Some("worker2")),
//!     (join_host_port("10.0.3.1", 80), None),
//! ]);
//! assert_eq!(ids["10.0.1.10:80"], "worker#1");
//! assert_eq!(ids["10.0.1.2:80"], "worker#2");
//! assert_eq!(ids["10.0.2.1:80"], "worker2");
//! assert_eq!(ids["10.0.3.1:80"], "10.0.3.1:80");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use crate::model::state::{AddressType, ClusterState, EndpointSlice, Service, ServicePort};

pub use crate::model::state::join_host_port;

/// Names a set of endpoints of one Service port.
///
/// Input: each endpoint's `"IP:port"` (see [`join_host_port`]) with its node, if known.
/// Output: `"IP:port"` → identity. Duplicated addresses are named once (first node wins, as
/// kube-proxy keeps one entry per `"IP:port"`).
pub fn assign_identities<'a, I>(endpoints: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (String, Option<&'a str>)>,
{
    let mut by_addr: BTreeMap<String, Option<&'a str>> = BTreeMap::new();
    for (addr, node) in endpoints {
        by_addr
            .entry(addr)
            .or_insert(node.filter(|n| !n.is_empty()));
    }
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for node in by_addr.values().flatten() {
        *per_node.entry(node).or_insert(0) += 1;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    by_addr
        .into_iter()
        .map(|(addr, node)| {
            let id = match node {
                None => addr.clone(),
                Some(n) if per_node.get(n).copied().unwrap_or(0) <= 1 => n.to_string(),
                Some(n) => {
                    let k = seen.entry(n).or_insert(0);
                    *k += 1;
                    format!("{n}#{k}")
                }
            };
            (addr, id)
        })
        .collect()
}

/// Identifies a Service port: `namespace`, `name`, port name and lower-case protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortKey {
    /// Service namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Port name (empty when unnamed); EndpointSlice ports are matched by this name.
    pub port_name: String,
    /// Lower-case protocol.
    pub protocol: String,
}

impl ServicePortKey {
    /// The key of `port` of `service`.
    pub fn new(service: &Service, port: &ServicePort) -> Self {
        ServicePortKey {
            namespace: service.namespace.clone(),
            name: service.name.clone(),
            port_name: port.name.clone(),
            protocol: port.protocol.to_ascii_lowercase(),
        }
    }
}

/// The identities of one Service port's endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PortIdentities {
    /// `"IP:port"` → identity, in `"IP:port"` order.
    by_text: BTreeMap<String, String>,
    /// The same, keyed by socket address for lookups.
    by_addr: HashMap<SocketAddr, String>,
}

/// Endpoint identities of every Service port of a [`ClusterState`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointIdentities {
    by_port: HashMap<ServicePortKey, PortIdentities>,
}

impl EndpointIdentities {
    /// Names the endpoints of every Service port in `state` (all endpoints of its
    /// EndpointSlices, whatever their conditions, so names do not move when readiness does).
    pub fn from_state(state: &ClusterState) -> Self {
        let mut by_port = HashMap::new();
        let mut slices: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in &state.slices {
            if let Some(svc) = slice.service_name.as_deref() {
                slices
                    .entry((slice.namespace.as_str(), svc))
                    .or_default()
                    .push(slice);
            }
        }
        for service in &state.services {
            let own = slices
                .get(&(service.namespace.as_str(), service.name.as_str()))
                .map_or(&[][..], Vec::as_slice);
            for port in &service.ports {
                let key = ServicePortKey::new(service, port);
                let mut eps: Vec<(String, Option<&str>)> = Vec::new();
                let mut addrs: Vec<(String, SocketAddr)> = Vec::new();
                for slice in own {
                    if slice.address_type == AddressType::Fqdn {
                        continue;
                    }
                    let slice_port = slice.ports.iter().find(|p| {
                        p.name.as_deref().unwrap_or("") == port.name
                            && p.protocol.eq_ignore_ascii_case(&port.protocol)
                    });
                    let Some(number) = slice_port.and_then(|p| p.port) else {
                        continue;
                    };
                    for ep in &slice.endpoints {
                        let Some(addr) = ep.addresses.first() else {
                            continue;
                        };
                        let text = join_host_port(&canonical(addr), number);
                        if let Ok(ip) = addr.parse::<IpAddr>() {
                            addrs.push((text.clone(), SocketAddr::new(ip, number)));
                        }
                        eps.push((text, ep.node_name.as_deref()));
                    }
                }
                let by_text = assign_identities(eps);
                let by_addr = addrs
                    .into_iter()
                    .filter_map(|(text, sa)| by_text.get(&text).map(|id| (sa, id.clone())))
                    .collect();
                by_port.insert(key, PortIdentities { by_text, by_addr });
            }
        }
        EndpointIdentities { by_port }
    }

    /// The identity of endpoint `ip:port` of a Service port, when the state knows it.
    pub fn identity(&self, key: &ServicePortKey, ip: &str, port: u16) -> Option<&str> {
        match ip.parse::<IpAddr>() {
            Ok(addr) => self.identity_addr(key, addr, port),
            Err(_) => self
                .by_port
                .get(key)?
                .by_text
                .get(&join_host_port(ip, port))
                .map(String::as_str),
        }
    }

    /// The identity of endpoint `ip:port` of a Service port, when the state knows it.
    pub fn identity_addr(&self, key: &ServicePortKey, ip: IpAddr, port: u16) -> Option<&str> {
        self.by_port
            .get(key)?
            .by_addr
            .get(&SocketAddr::new(ip, port))
            .map(String::as_str)
    }

    /// The identity of `ip:port`, or `ip:port` itself when unknown (or `key` is `None`).
    pub fn name(&self, key: Option<&ServicePortKey>, ip: &str, port: u16) -> String {
        key.and_then(|k| self.identity(k, ip, port))
            .map_or_else(|| join_host_port(&canonical(ip), port), str::to_string)
    }

    /// Like [`name`](Self::name) for a parsed address.
    pub fn name_addr(&self, key: Option<&ServicePortKey>, ip: IpAddr, port: u16) -> String {
        key.and_then(|k| self.identity_addr(k, ip, port))
            .map_or_else(|| socket_text(ip, port), str::to_string)
    }

    /// `"IP:port"` → identity for one Service port (empty when unknown), in `"IP:port"` order.
    pub fn endpoints(&self, key: &ServicePortKey) -> impl Iterator<Item = (&str, &str)> {
        self.by_port
            .get(key)
            .into_iter()
            .flat_map(|p| p.by_text.iter())
            .map(|(a, i)| (a.as_str(), i.as_str()))
    }
}

/// `IP:port` (`[IP]:port` for IPv6), as `SocketAddr`'s `Display` writes it; IPv4 is written
/// by hand, since formatting machinery dominated naming 50,000 endpoints.
pub fn socket_text(ip: IpAddr, port: u16) -> String {
    let IpAddr::V4(v4) = ip else {
        return SocketAddr::new(ip, port).to_string();
    };
    let mut out = String::with_capacity(21);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(&mut out, u32::from(octet));
    }
    out.push(':');
    push_decimal(&mut out, u32::from(port));
    out
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Canonical text of an IP (IPv6 compressed, lower case); other text unchanged.
fn canonical(ip: &str) -> String {
    ip.parse::<IpAddr>()
        .map_or_else(|_| ip.to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_text_matches_display() {
        for text in [
            "0.0.0.0:0",
            "10.100.0.1:8080",
            "255.255.255.255:65535",
            "[fd00:10:244::5]:6443",
            "[::ffff:1.2.3.4]:80",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(socket_text(addr.ip(), addr.port()), addr.to_string());
        }
    }

    #[test]
    fn ordinals_follow_plain_string_order() {
        let ids = assign_identities([
            ("10.0.1.2:80".to_string(), Some("n")),
            ("10.0.1.10:80".to_string(), Some("n")),
            ("10.0.1.3:80".to_string(), Some("m")),
        ]);
        assert_eq!(ids["10.0.1.10:80"], "n#1");
        assert_eq!(ids["10.0.1.2:80"], "n#2");
        assert_eq!(ids["10.0.1.3:80"], "m");
    }

    #[test]
    fn ipv6_is_bracketed_and_canonical() {
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(canonical("FD00:0:0::1"), "fd00::1");
    }
}
