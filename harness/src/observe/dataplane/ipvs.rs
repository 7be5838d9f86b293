//! IPVS: `ipvsadm -Ln` output and `/proc/net/ip_vs` (hex addresses and ports).
//!
//! Every virtual server becomes a frontend whose cluster path lists its real servers with a
//! share of `weight / sum of weights` (`rr` and other unweighted schedulers: equal shares among
//! servers of weight > 0). Real servers of weight 0 take no new connections and are left out.
//! IPVS cannot tell a ClusterIP from an external or node address, nor a cluster from a local
//! set: every frontend is read as `cluster-ip` with a cluster path, and normalization corrects
//! both from the cluster state.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{syntax, DataplaneError};
use super::for_each_line;
use super::routes::{
    finish, parse_backend, Backend, Frontend, FrontendKind, FrontendRoute, NodeRoutes, Outcome,
    Share,
};

/// Address notation of the input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IpvsFormat {
    /// `ipvsadm -Ln`: dotted / compressed IPv6 addresses, decimal ports.
    Ipvsadm,
    /// `/proc/net/ip_vs`: `0A000001:01BB`, `[fd00:0000:…]:01BB`.
    Proc,
}

/// Schedulers whose weights do not change shares among servers of weight > 0.
const UNWEIGHTED: &[&str] = &["rr", "lc", "sh", "dh", "sed", "nq", "fo", "ovf", "mh"];

struct Virtual {
    frontend: Frontend,
    scheduler: String,
    servers: Vec<(Backend, u32)>,
}

/// Parses `ipvsadm -Ln` or `/proc/net/ip_vs`, telling them apart from the first virtual server.
pub fn parse_ipvs(text: &str) -> Result<NodeRoutes, DataplaneError> {
    parse_ipvs_reader(text.as_bytes(), None)
}

/// Parses IPVS output from a reader; `format` `None` detects it from the first virtual server.
pub fn parse_ipvs_reader(
    reader: impl Read,
    mut format: Option<IpvsFormat>,
) -> Result<NodeRoutes, DataplaneError> {
    let mut virtuals: Vec<Virtual> = Vec::new();
    let mut seen = false;
    let lineno = for_each_line(reader, |lineno, line| {
        let text = line.trim();
        if text.is_empty()
            || text.starts_with("IP Virtual Server version")
            || text.starts_with("Prot LocalAddress")
            || text.starts_with("-> RemoteAddress")
        {
            seen |= !text.is_empty();
            return Ok(());
        }
        // The first seven words are all a line of either format needs.
        let mut words = [""; 7];
        let mut count = 0;
        for (slot, word) in words.iter_mut().zip(text.split_whitespace()) {
            *slot = word;
            count += 1;
        }
        match &words[..count] {
            ["->", addr, fwd, weight, _active, _inactive, ..] => {
                let Some(v) = virtuals.last_mut() else {
                    return Err(syntax(lineno, "real server before any virtual server"));
                };
                let fmt = format.unwrap_or(IpvsFormat::Ipvsadm);
                let backend = address(addr, fmt, lineno)?;
                let weight: u32 = weight
                    .parse()
                    .map_err(|_| syntax(lineno, format!("weight `{weight}` is not a number")))?;
                if !fwd.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(syntax(lineno, format!("forward method `{fwd}`")));
                }
                v.servers.push((backend, weight));
            }
            ["->", ..] => {
                return Err(syntax(
                    lineno,
                    "real server line with missing columns (truncated?)",
                ))
            }
            [proto @ ("TCP" | "UDP" | "SCTP"), addr, scheduler, ..] => {
                seen = true;
                let fmt = *format.get_or_insert_with(|| detect(addr));
                let b = address(addr, fmt, lineno)?;
                virtuals.push(Virtual {
                    frontend: Frontend {
                        kind: FrontendKind::ClusterIp,
                        ip: Some(b.ip),
                        port: b.port,
                        protocol: proto.to_ascii_lowercase(),
                    },
                    scheduler: scheduler.to_string(),
                    servers: Vec::new(),
                });
            }
            ["FWM", ..] => {
                seen = true;
                // Firewall-mark services are not kube-proxy's: their real servers are skipped.
                virtuals.push(Virtual {
                    frontend: Frontend {
                        kind: FrontendKind::ClusterIp,
                        ip: None,
                        port: 0,
                        protocol: String::new(),
                    },
                    scheduler: "fwm".into(),
                    servers: Vec::new(),
                });
            }
            _ if !seen => {
                return Err(DataplaneError::NotADump {
                    line: lineno,
                    expected: "ipvsadm -Ln output or /proc/net/ip_vs",
                    found: format!("`{}`", text.chars().take(60).collect::<String>()),
                })
            }
            _ => {
                return Err(syntax(
                    lineno,
                    format!(
                        "unexpected line `{}`",
                        text.chars().take(60).collect::<String>()
                    ),
                ))
            }
        }
        Ok(())
    })?;
    if !seen {
        return Err(DataplaneError::NotADump {
            line: lineno.max(1),
            expected: "ipvsadm -Ln output or /proc/net/ip_vs",
            found: "no virtual server".into(),
        });
    }
    let routes = virtuals
        .into_iter()
        .filter(|v| v.scheduler != "fwm")
        .map(|v| {
            let weighted = !UNWEIGHTED.contains(&v.scheduler.as_str());
            let live: Vec<(Backend, u32)> = v.servers.into_iter().filter(|(_, w)| *w > 0).collect();
            let total: f64 = live
                .iter()
                .map(|(_, w)| if weighted { f64::from(*w) } else { 1.0 })
                .sum();
            let mut shares: Vec<Share> = live
                .into_iter()
                .map(|(backend, w)| Share {
                    backend,
                    probability: if weighted { f64::from(w) } else { 1.0 } / total,
                })
                .collect();
            shares.sort_by_key(|s| s.backend);
            FrontendRoute {
                frontend: v.frontend,
                outcome: if shares.is_empty() {
                    Outcome::Drop
                } else {
                    Outcome::Route
                },
                cluster: Some(shares),
                local: None,
            }
        })
        .collect();
    Ok(finish(routes))
}

fn detect(addr: &str) -> IpvsFormat {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let is_hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let v4 = host.len() == 8 && is_hex(host);
    let v6 = host.starts_with('[')
        && host.len() == 41
        && host
            .get(1..40)
            .is_some_and(|h| h.split(':').all(|g| g.len() == 4 && is_hex(g)));
    if v4 || v6 {
        IpvsFormat::Proc
    } else {
        IpvsFormat::Ipvsadm
    }
}

fn address(text: &str, format: IpvsFormat, line: usize) -> Result<Backend, DataplaneError> {
    let bad = || DataplaneError::BadAddress {
        line,
        value: text.to_string(),
    };
    match format {
        IpvsFormat::Ipvsadm => parse_backend(text).ok_or_else(bad),
        IpvsFormat::Proc => {
            let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
            let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
            let ip = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                IpAddr::V6(v6.parse::<Ipv6Addr>().map_err(|_| bad())?)
            } else {
                if host.len() != 8 {
                    return Err(bad());
                }
                IpAddr::V4(Ipv4Addr::from(
                    u32::from_str_radix(host, 16).map_err(|_| bad())?,
                ))
            };
            Ok(Backend { ip, port })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::dataplane::test_support::{fixture, summary};

    fn routes(path: &str) -> String {
        summary(&parse_ipvs(&fixture(path)).expect(path))
    }

    const README: &str = "\
10.0.0.10:53/tcp  cluster-ip  route  cluster: 172.17.0.2:53=1  local: -
10.0.0.10:53/udp  cluster-ip  route  cluster: 172.17.0.2:53=1  local: -
10.0.0.1:443/tcp  cluster-ip  route  cluster: 192.168.0.1:6443=1  local: -
";

    #[test]
    fn readme_example_as_ipvsadm_and_proc() {
        assert_eq!(routes("ipvs/valid-readme.ipvsadm"), README);
        assert_eq!(routes("ipvs/valid-readme.proc"), README);
    }

    #[test]
    fn seed_output_without_header() {
        assert_eq!(
            routes("ipvs/valid-seed001-kind-worker2.ipvsadm"),
            "10.96.0.10:53/tcp  cluster-ip  route  cluster: 10.244.1.2:53=0.5 10.244.2.2:53=0.5  local: -\n"
        );
    }

    #[test]
    fn weights_draining_schedulers_and_ipv6() {
        assert_eq!(
            routes("ipvs/valid-nodeport-draining.ipvsadm"),
            "10.11.12.13:6379/tcp  cluster-ip  route  cluster: 10.244.1.3:6379=0.75 10.244.2.3:6379=0.25  local: -\n\
             10.96.0.11:53/udp  cluster-ip  drop  cluster: (none)  local: -\n\
             192.168.1.2:32502/tcp  cluster-ip  route  cluster: 11.0.2.11:80=0.25 11.0.2.7:80=0.25 11.0.2.9:80=0.25 11.0.3.8:80=0.25  local: -\n\
             [fd00:10:96::a]:53/tcp  cluster-ip  route  cluster: [fd00:10:244:1::2]:53=1  local: -\n"
                .replace("\n             ", "\n")
        );
    }

    #[test]
    fn proc_ipv6_addresses() {
        let text = "TCP  [fd00:0000:0000:0000:0000:0000:0000:000a]:0035 rr \n  -> [fd00:0010:0244:0001:0000:0000:0000:0002]:0035      Masq    1      0          0\n";
        assert_eq!(
            summary(&parse_ipvs(text).unwrap()),
            "[fd00::a]:53/tcp  cluster-ip  route  cluster: [fd00:10:244:1::2]:53=1  local: -\n"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error_with_the_line() {
        assert_eq!(
            parse_ipvs(&fixture("ipvs/invalid-hex.proc")).unwrap_err(),
            DataplaneError::BadAddress {
                line: 7,
                value: "AC11G002:0035".into()
            }
        );
        assert!(matches!(
            parse_ipvs(&fixture("ipvs/invalid-not-a-dump.ipvsadm")).unwrap_err(),
            DataplaneError::NotADump { line: 1, .. }
        ));
        assert!(matches!(
            parse_ipvs("  -> 10.0.0.1:80 Masq 1 0 0\n").unwrap_err(),
            DataplaneError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            parse_ipvs("TCP  10.0.0.1:80 rr\n  -> 10.0.0.2:80 Masq\n").unwrap_err(),
            DataplaneError::Syntax { line: 2, .. }
        ));
        assert!(matches!(
            parse_ipvs("TCP  10.0.0.1:99999 rr\n").unwrap_err(),
            DataplaneError::BadAddress { line: 1, .. }
        ));
    }
}
