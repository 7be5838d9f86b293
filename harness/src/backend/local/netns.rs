//! The local cluster's network, made with `ip` through a [`CommandRunner`] (so every command
//! sequence is tested without root): the hub namespace with its bridge, node namespaces on
//! it, and point-to-point pod namespaces behind each node, as kind's CNI wires pods. Nothing
//! is ever configured in the host's own namespace.
//!
//! See [`super::layout`] for the names and addresses.

use std::time::Duration;

use super::layout;
use crate::backend::command::{Command, CommandError, CommandRunner};

/// A network change that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct NetError {
    /// What was being made.
    pub what: String,
    /// The failed command.
    #[source]
    pub source: CommandError,
}

/// The network of one run.
pub struct Network<'r> {
    runner: &'r dyn CommandRunner,
    tag: String,
}

/// How long one `ip` invocation may take.
const IP_TIMEOUT: Duration = Duration::from_secs(30);

impl<'r> Network<'r> {
    /// The network of run `tag`, made through `runner`.
    pub fn new(runner: &'r dyn CommandRunner, tag: &str) -> Self {
        Network {
            runner,
            tag: tag.to_string(),
        }
    }

    /// The run's tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Runs any command through the network's runner (e.g. netexec inside a namespace).
    pub fn runner_command(&self, command: Command) -> Result<String, CommandError> {
        self.runner.run(&command).map(|o| o.stdout)
    }

    fn run(&self, what: &str, command: Command) -> Result<String, NetError> {
        self.runner
            .run(&command.timeout(IP_TIMEOUT))
            .map(|o| o.stdout)
            .map_err(|source| NetError {
                what: what.to_string(),
                source,
            })
    }

    fn ip(&self, what: &str, args: &[&str]) -> Result<(), NetError> {
        self.run(what, Command::new("ip").args(args.iter().copied()))
            .map(|_| ())
    }

    /// `ip -n <netns> -batch -` with `lines`.
    fn batch(&self, what: &str, netns: &str, lines: &[String]) -> Result<(), NetError> {
        let mut input = lines.join("\n");
        input.push('\n');
        self.run(
            what,
            Command::new("ip")
                .args(["-n", netns, "-batch", "-"])
                .stdin(input),
        )
        .map(|_| ())
    }

    /// Runs `argv` inside `netns` and returns its stdout.
    pub fn exec(&self, what: &str, netns: &str, argv: &[&str]) -> Result<String, NetError> {
        self.run(
            what,
            Command::new("ip")
                .args(["netns", "exec", netns])
                .args(argv.iter().copied()),
        )
    }

    /// Sets an IPv4 sysctl inside `netns` (through /proc, which reflects the namespace).
    fn sysctl(&self, netns: &str, key: &str, value: &str) -> Result<(), NetError> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec(
            &format!("setting {key} in {netns}"),
            netns,
            &["sh", "-c", &format!("echo {value} > {path}")],
        )
        .map(|_| ())
    }

    /// Creates network namespace `name`.
    pub fn add_netns(&self, name: &str) -> Result<(), NetError> {
        self.ip(
            &format!("creating network namespace {name}"),
            &["netns", "add", name],
        )
    }

    /// Deletes network namespace `name` (its links go with it); one that is not there is
    /// not an error.
    pub fn delete_netns(&self, name: &str) -> Result<(), NetError> {
        match self.ip(
            &format!("deleting network namespace {name}"),
            &["netns", "delete", name],
        ) {
            Err(NetError {
                source: CommandError::Failed { stderr, .. },
                ..
            }) if stderr.contains("No such file") => Ok(()),
            other => other,
        }
    }

    /// The network namespaces of this run that exist now (`ip netns list`).
    pub fn list_own(&self) -> Result<Vec<String>, NetError> {
        let listed = self.run(
            "listing network namespaces",
            Command::new("ip").args(["netns", "list"]),
        )?;
        Ok(listed
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| layout::is_of_run(n, &self.tag))
            .map(str::to_string)
            .collect())
    }

    /// The hub: a namespace with bridge `br0` at [`layout::HUB_ADDRESS`].
    pub fn create_hub(&self) -> Result<(), NetError> {
        let hub = layout::hub_netns(&self.tag);
        self.add_netns(&hub)?;
        self.batch(
            "making the hub bridge",
            &hub,
            &[
                "link set lo up".to_string(),
                "link add br0 type bridge".to_string(),
                format!(
                    "addr add {}/{} dev br0",
                    layout::HUB_ADDRESS,
                    layout::NODE_PREFIX
                ),
                "link set br0 up".to_string(),
            ],
        )
    }

    /// Node `index`: its namespace joined to the hub bridge, forwarding on, a default route
    /// through the hub, its client namespace behind it, and routes to the pod CIDRs of
    /// `peers` (other node indexes).
    pub fn create_node(&self, index: usize, peers: &[usize]) -> Result<(), NetError> {
        let hub = layout::hub_netns(&self.tag);
        let node = layout::node_netns(&self.tag, index);
        let link = layout::hub_link(index);
        let what = format!("making node namespace {node}");
        self.add_netns(&node)?;
        self.ip(
            &what,
            &[
                "-n", &node, "link", "add", "eth0", "type", "veth", "peer", "name", &link, "netns",
                &hub,
            ],
        )?;
        self.batch(
            &what,
            &hub,
            &[
                format!("link set {link} master br0"),
                format!("link set {link} up"),
            ],
        )?;
        let mut lines = vec![
            "link set lo up".to_string(),
            format!(
                "addr add {}/{} dev eth0",
                layout::node_ip(index),
                layout::NODE_PREFIX
            ),
            "link set eth0 up".to_string(),
            format!("route add default via {}", layout::HUB_ADDRESS),
        ];
        lines.extend(peers.iter().filter(|p| **p != index).map(|p| route_to(*p)));
        self.batch(&what, &node, &lines)?;
        self.sysctl(&node, "net.ipv4.ip_forward", "1")?;
        let client = layout::client_netns(&self.tag, index);
        self.attach(
            index,
            &client,
            layout::CLIENT_LINK,
            layout::client_ip(index),
        )
    }

    /// Removes node `index`: its hub link first (see [`Self::remove_pod`]: the next node
    /// with this index must not find it), then its client and its own namespace.
    pub fn remove_node(&self, index: usize) -> Result<(), NetError> {
        self.delete_link(&layout::hub_netns(&self.tag), &layout::hub_link(index))?;
        self.delete_netns(&layout::client_netns(&self.tag, index))?;
        self.delete_netns(&layout::node_netns(&self.tag, index))
    }

    /// Deletes link `link` of `netns`; one that is not there is not an error.
    fn delete_link(&self, netns: &str, link: &str) -> Result<(), NetError> {
        match self.ip(
            &format!("deleting link {link} of {netns}"),
            &["-n", netns, "link", "delete", link],
        ) {
            Err(NetError {
                source: CommandError::Failed { stderr, .. },
                ..
            }) if stderr.contains("Cannot find device") => Ok(()),
            other => other,
        }
    }

    /// A route on node `index`'s peers to its pod CIDR, once it exists.
    pub fn add_route(&self, from: usize, to: usize) -> Result<(), NetError> {
        let node = layout::node_netns(&self.tag, from);
        self.batch(
            &format!("routing {node} to node {to}'s pods"),
            &node,
            &[route_to(to)],
        )
    }

    /// Pod slot `slot` on node `index`: a namespace with the pod's address, behind a veth.
    pub fn add_pod(&self, index: usize, slot: usize) -> Result<(), NetError> {
        let pod = layout::pod_netns(&self.tag, index, slot);
        self.attach(
            index,
            &pod,
            &layout::pod_link(slot),
            layout::pod_ip(index, slot),
        )
    }

    /// Removes pod slot `slot` on node `index` (its link and route go with the namespace).
    pub fn remove_pod(&self, index: usize, slot: usize) -> Result<(), NetError> {
        self.delete_netns(&layout::pod_netns(&self.tag, index, slot))
    }

    /// A point-to-point namespace `netns` behind node `index` on link `link` with address
    /// `ip`/32: the node holds the pods' gateway on the link and a host route to `ip`; the
    /// namespace routes everything through the gateway.
    fn attach(
        &self,
        index: usize,
        netns: &str,
        link: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<(), NetError> {
        let node = layout::node_netns(&self.tag, index);
        let gateway = layout::pod_gateway(index);
        let what = format!("making namespace {netns} behind {node}");
        self.add_netns(netns)?;
        self.batch(
            &what,
            &node,
            &[
                format!("link add {link} type veth peer name eth0 netns {netns}"),
                format!("addr add {gateway}/32 dev {link}"),
                format!("link set {link} up"),
                format!("route add {ip}/32 dev {link}"),
            ],
        )?;
        self.batch(
            &what,
            netns,
            &[
                "link set lo up".to_string(),
                format!("addr add {ip}/32 dev eth0"),
                "link set eth0 up".to_string(),
                format!("route add {gateway} dev eth0 scope link"),
                format!("route add default via {gateway} dev eth0"),
            ],
        )
    }

    /// Deletes every namespace of this run that still exists: pods and clients first, then
    /// nodes, then the hub. Returns the ones that could not be deleted, with why.
    pub fn delete_all(&self) -> Vec<String> {
        let own = match self.list_own() {
            Ok(own) => own,
            Err(e) => return vec![e.to_string()],
        };
        let prefix = format!("topo-{}-", self.tag);
        // Pods and clients (`n<k>-…`) first, then nodes (`n<k>`), then the hub.
        let rank = |name: &str| match name.strip_prefix(&prefix) {
            Some("hub") => 2,
            Some(rest) if rest.contains('-') => 0,
            _ => 1,
        };
        let mut ordered = own;
        ordered.sort_by_key(|n| rank(n));
        ordered
            .iter()
            .filter_map(|name| self.delete_netns(name).err().map(|e| e.to_string()))
            .collect()
    }
}

/// The route to node `to`'s pod CIDR through its node address.
fn route_to(to: usize) -> String {
    format!(
        "route add {} via {}",
        layout::pod_cidr(to),
        layout::node_ip(to)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::command::RecordingRunner;

    #[test]
    fn a_node_is_wired_to_the_hub_and_its_client() {
        let runner = RecordingRunner::new();
        let net = Network::new(&runner, "abcd1234");
        runner.ok(&["ip", "netns", "add", "topo-abcd1234-n1"], "");
        runner.ok(
            &[
                "ip",
                "-n",
                "topo-abcd1234-n1",
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "n1",
                "netns",
                "topo-abcd1234-hub",
            ],
            "",
        );
        runner.ok(&["ip", "-n", "topo-abcd1234-hub", "-batch", "-"], "");
        runner.ok(&["ip", "-n", "topo-abcd1234-n1", "-batch", "-"], "");
        runner.ok(
            &[
                "ip",
                "netns",
                "exec",
                "topo-abcd1234-n1",
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_forward",
            ],
            "",
        );
        runner.ok(&["ip", "netns", "add", "topo-abcd1234-n1-c"], "");
        runner.ok(&["ip", "-n", "topo-abcd1234-n1", "-batch", "-"], "");
        runner.ok(&["ip", "-n", "topo-abcd1234-n1-c", "-batch", "-"], "");
        net.create_node(1, &[0, 1, 2]).expect("node");
        assert!(runner.unused().is_empty(), "{:?}", runner.unused());
        let calls = runner.calls();
        let node_batch = calls[3].stdin.clone().unwrap_or_default();
        assert_eq!(
            node_batch,
            "link set lo up\naddr add 198.18.0.11/16 dev eth0\nlink set eth0 up\nroute add default via 198.18.0.1\nroute add 10.128.0.0/24 via 198.18.0.10\nroute add 10.128.2.0/24 via 198.18.0.12\n"
        );
        let client_side = calls[6].stdin.clone().unwrap_or_default();
        assert_eq!(
            client_side,
            "link add c0 type veth peer name eth0 netns topo-abcd1234-n1-c\naddr add 10.128.1.1/32 dev c0\nlink set c0 up\nroute add 10.128.1.254/32 dev c0\n"
        );
        let inside = calls[7].stdin.clone().unwrap_or_default();
        assert_eq!(
            inside,
            "link set lo up\naddr add 10.128.1.254/32 dev eth0\nlink set eth0 up\nroute add 10.128.1.1 dev eth0 scope link\nroute add default via 10.128.1.1 dev eth0\n"
        );
    }

    #[test]
    fn deleting_what_is_gone_is_fine_and_order_is_inside_out() {
        let runner = RecordingRunner::new();
        let net = Network::new(&runner, "abcd1234");
        runner.ok(
            &["ip", "netns", "list"],
            "topo-abcd1234-hub\ntopo-abcd1234-n0 (id: 3)\ntopo-other-n0\ntopo-abcd1234-n0-p3 (id: 4)\ntopo-abcd1234-n0-c\n",
        );
        for name in [
            "topo-abcd1234-n0-p3",
            "topo-abcd1234-n0-c",
            "topo-abcd1234-n0",
        ] {
            runner.ok(&["ip", "netns", "delete", name], "");
        }
        runner.fail(
            &["ip", "netns", "delete", "topo-abcd1234-hub"],
            1,
            "Cannot remove namespace file \"/run/netns/topo-abcd1234-hub\": No such file or directory",
        );
        assert!(net.delete_all().is_empty());
        let order: Vec<String> = runner
            .call_lines()
            .into_iter()
            .skip(1)
            .map(|l| l.trim_start_matches("ip netns delete ").to_string())
            .collect();
        assert_eq!(
            order,
            [
                "topo-abcd1234-n0-p3",
                "topo-abcd1234-n0-c",
                "topo-abcd1234-n0",
                "topo-abcd1234-hub"
            ]
        );
    }
}
