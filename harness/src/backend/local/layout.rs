//! Names and addresses of a local cluster, as pure functions: every network namespace the
//! run makes carries the run's tag (two runs on one machine never share a name), every
//! address lives only inside the run's own namespaces (none is ever configured in the host's
//! namespace, so no range can collide with the host's networks), and the only host resources
//! are loopback ports, chosen free.
//!
//! ```text
//! topo-<tag>-hub        bridge br0 198.18.0.1/16 (the nodes' link; gateway of their default route)
//! topo-<tag>-n<k>       node k: eth0 198.18.<k>/16, pods' gateway 10.<128+k/256>.<k%256>.1,
//!                       a veth p<s> per pod, c0 to its client namespace
//! topo-<tag>-n<k>-p<s>  pod slot s of node k: eth0 10.<..>.<..>.<s+2>/32
//! topo-<tag>-n<k>-c     node k's traffic client: eth0 10.<..>.<..>.254/32
//! ```

use std::net::Ipv4Addr;

/// The Service CIDR (`--service-cluster-ip-range`), as kind uses it.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
/// The pod network (kube-proxy's `clusterCIDR`): every node's pod CIDR is a /24 in it.
pub const CLUSTER_CIDR: &str = "10.128.0.0/9";
/// The hub bridge's address: the nodes' default gateway.
pub const HUB_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The prefix length of the node link.
pub const NODE_PREFIX: u8 = 16;
/// Pods a node can hold (slots 0…249 → .2….251; .1 is the gateway, .254 the client).
pub const PODS_PER_NODE: usize = 250;
/// Nodes a cluster can hold (pod CIDRs 10.128.0.0/24 … 10.255.255.0/24).
pub const MAX_NODES: usize = 128 * 256;
/// The port the API server is reached at from inside a node namespace (a forwarder there
/// leads to the API server on the host's loopback).
pub const NODE_API_PORT: u16 = 6443;
/// kube-proxy's metrics port inside a node namespace (`/proxyMode`, `/metrics`).
pub const PROXY_METRICS_PORT: u16 = 10249;
/// kube-proxy's health port inside a node namespace.
pub const PROXY_HEALTH_PORT: u16 = 10256;

/// A run's tag: 8 hex digits from the pid and the time, part of every name the run makes.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("{:08x}", (mixed ^ (mixed >> 29)) as u32)
}

/// The hub namespace of run `tag`.
pub fn hub_netns(tag: &str) -> String {
    format!("topo-{tag}-hub")
}

/// The namespace of node `index` (0-based) of run `tag`.
pub fn node_netns(tag: &str, index: usize) -> String {
    format!("topo-{tag}-n{index}")
}

/// The namespace of pod slot `slot` on node `index`.
pub fn pod_netns(tag: &str, index: usize, slot: usize) -> String {
    format!("topo-{tag}-n{index}-p{slot}")
}

/// The namespace node `index` sends traffic probes from.
pub fn client_netns(tag: &str, index: usize) -> String {
    format!("topo-{tag}-n{index}-c")
}

/// Whether `name` is a namespace of run `tag`.
pub fn is_of_run(name: &str, tag: &str) -> bool {
    name.starts_with(&format!("topo-{tag}-"))
}

/// The hub-side link of node `index` (interface names are at most 15 characters).
pub fn hub_link(index: usize) -> String {
    format!("n{index}")
}

/// The node-side link of pod slot `slot`.
pub fn pod_link(slot: usize) -> String {
    format!("p{slot}")
}

/// The node-side link of the client namespace.
pub const CLIENT_LINK: &str = "c0";

/// Node `index`'s address on the node link: 198.18.0.10, 198.18.0.11, …
pub fn node_ip(index: usize) -> Ipv4Addr {
    let n = u32::from(HUB_ADDRESS) + 9 + index as u32;
    Ipv4Addr::from(n)
}

/// The third and second octet of node `index`'s pod CIDR.
fn pod_octets(index: usize) -> (u8, u8) {
    ((128 + index / 256) as u8, (index % 256) as u8)
}

/// Node `index`'s pod CIDR: `10.<128 + k/256>.<k%256>.0/24`.
pub fn pod_cidr(index: usize) -> String {
    let (b, c) = pod_octets(index);
    format!("10.{b}.{c}.0/24")
}

/// The address pods of node `index` route through (on every pod link of the node).
pub fn pod_gateway(index: usize) -> Ipv4Addr {
    let (b, c) = pod_octets(index);
    Ipv4Addr::new(10, b, c, 1)
}

/// The address of pod slot `slot` on node `index`.
pub fn pod_ip(index: usize, slot: usize) -> Ipv4Addr {
    let (b, c) = pod_octets(index);
    Ipv4Addr::new(10, b, c, (slot + 2) as u8)
}

/// The address of node `index`'s traffic client.
pub fn client_ip(index: usize) -> Ipv4Addr {
    let (b, c) = pod_octets(index);
    Ipv4Addr::new(10, b, c, 254)
}

/// A free TCP port on 127.0.0.1 (bound and released: the caller binds it soon after, and a
/// component that finds it taken after all is restarted on another).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_carry_the_tag() {
        let tag = run_tag();
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        let last = MAX_NODES - 1;
        for name in [
            hub_netns(&tag),
            node_netns(&tag, last),
            pod_netns(&tag, last, PODS_PER_NODE - 1),
            client_netns(&tag, last),
        ] {
            assert!(is_of_run(&name, &tag), "{name}");
            assert!(!is_of_run(&name, "00000000") || tag == "00000000");
        }
        // Interface names stay within IFNAMSIZ - 1.
        assert!(hub_link(last).len() <= 15);
        assert!(pod_link(PODS_PER_NODE - 1).len() <= 15);
    }

    #[test]
    fn addresses_never_overlap() {
        assert_eq!(node_ip(0), Ipv4Addr::new(198, 18, 0, 10));
        assert_eq!(node_ip(300), Ipv4Addr::new(198, 18, 1, 54));
        assert_eq!(pod_cidr(0), "10.128.0.0/24");
        assert_eq!(pod_cidr(257), "10.129.1.0/24");
        assert_eq!(pod_cidr(MAX_NODES - 1), "10.255.255.0/24");
        assert_eq!(pod_ip(1, 0), Ipv4Addr::new(10, 128, 1, 2));
        assert_eq!(pod_ip(1, PODS_PER_NODE - 1), Ipv4Addr::new(10, 128, 1, 251));
        assert_eq!(pod_gateway(1), Ipv4Addr::new(10, 128, 1, 1));
        assert_eq!(client_ip(1), Ipv4Addr::new(10, 128, 1, 254));
        // Pods, clients and gateways lie in the cluster CIDR, never in the Service CIDR.
        let in_cluster = |ip: Ipv4Addr| ip.octets()[0] == 10 && ip.octets()[1] >= 128;
        assert!(in_cluster(pod_ip(MAX_NODES - 1, 0)) && in_cluster(client_ip(0)));
        assert!(free_port().is_ok_and(|p| p > 0));
    }
}
