//! Kube-proxy-shaped rulesets generated for test scenarios and benchmarks: what kube-proxy
//! (1.31+) would feed to `iptables-restore` / `nft -f` for a list of Service ports as one node
//! sees them (its cluster endpoints after topology filtering, and its local endpoints).
#![allow(dead_code)]

use std::fmt::Write as _;

/// One Service port as one node's proxy sees it.
#[derive(Clone, Debug)]
pub struct SynthService {
    pub namespace: String,
    pub name: String,
    pub port_name: String,
    pub cluster_ip: String,
    pub port: u16,
    /// Cluster endpoints (`ip`, `port`), in kube-proxy order.
    pub cluster: Vec<(String, u16)>,
    /// Local endpoints for a `Local` policy: `Some` with eTP=Local (NodePort required).
    pub local: Option<Vec<(String, u16)>>,
    /// NodePort, 0 when none.
    pub node_port: u16,
}

impl SynthService {
    fn spn(&self) -> String {
        if self.port_name.is_empty() {
            format!("{}/{}", self.namespace, self.name)
        } else {
            format!("{}/{}:{}", self.namespace, self.name, self.port_name)
        }
    }
}

/// A stable 16-character upper-case name hash (stands in for kube-proxy's base32 sha256).
fn h16(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| ALPHABET[((h >> ((i * 4) % 60)) as usize + i) % 32] as char)
        .collect()
}

fn ep_str(ep: &(String, u16)) -> String {
    format!("{}:{}", ep.0, ep.1)
}

/// `iptables-restore` input (nat and filter tables) for `services`.
pub fn iptables_restore(services: &[SynthService]) -> String {
    let mut decl = String::from(
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n",
    );
    let mut rules = String::from("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
    for s in services {
        let spn = s.spn();
        let h = h16(&format!("{spn}tcp"));
        let svc = format!("KUBE-SVC-{h}");
        let svl = format!("KUBE-SVL-{h}");
        let ext = format!("KUBE-EXT-{h}");
        let sep =
            |ep: &(String, u16)| format!("KUBE-SEP-{}", h16(&format!("{spn}tcp{}", ep_str(ep))));
        let mut seps: Vec<&(String, u16)> = s.cluster.iter().collect();
        seps.extend(s.local.iter().flatten());
        seps.sort();
        seps.dedup();
        let _ = writeln!(decl, ":{svc} - [0:0]");
        for ep in &seps {
            let _ = writeln!(decl, ":{} - [0:0]", sep(ep));
            let _ = writeln!(
                rules,
                "-A {} -m comment --comment \"{spn}\" -s {} -j KUBE-MARK-MASQ",
                sep(ep),
                ep.0
            );
            let _ = writeln!(
                rules,
                "-A {} -m comment --comment \"{spn}\" -m tcp -p tcp -j DNAT --to-destination {}",
                sep(ep),
                ep_str(ep)
            );
        }
        let _ = writeln!(
            rules,
            "-A KUBE-SERVICES -m comment --comment \"{spn} cluster IP\" -m tcp -p tcp -d {} --dport {} -j {svc}",
            s.cluster_ip, s.port
        );
        let balance = |rules: &mut String, chain: &str, eps: &[(String, u16)]| {
            let n = eps.len();
            for (i, ep) in eps.iter().enumerate() {
                let stat = if i + 1 < n {
                    format!(
                        " -m statistic --mode random --probability {:.10}",
                        1.0 / (n - i) as f64
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    rules,
                    "-A {chain} -m comment --comment \"{spn} -> {}\"{stat} -j {}",
                    ep_str(ep),
                    sep(ep)
                );
            }
        };
        let _ = writeln!(
            rules,
            "-A {svc} -m comment --comment \"{spn} cluster IP\" -m tcp -p tcp -d {} --dport {} ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
            s.cluster_ip, s.port
        );
        balance(&mut rules, &svc, &s.cluster);
        if s.node_port != 0 {
            let _ = writeln!(decl, ":{ext} - [0:0]");
            let _ = writeln!(
                rules,
                "-A KUBE-NODEPORTS -m comment --comment {spn} -m tcp -p tcp --dport {} -j {ext}",
                s.node_port
            );
            match &s.local {
                Some(local) => {
                    let _ = writeln!(rules, "-A {ext} -m comment --comment \"pod traffic for {spn} external destinations\" -s 10.0.0.0/8 -j {svc}");
                    let _ = writeln!(rules, "-A {ext} -m comment --comment \"masquerade LOCAL traffic for {spn} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ");
                    let _ = writeln!(rules, "-A {ext} -m comment --comment \"route LOCAL traffic for {spn} external destinations\" -m addrtype --src-type LOCAL -j {svc}");
                    if !local.is_empty() {
                        let _ = writeln!(decl, ":{svl} - [0:0]");
                        let _ = writeln!(rules, "-A {ext} -j {svl}");
                        balance(&mut rules, &svl, local);
                    }
                }
                None => {
                    let _ = writeln!(rules, "-A {ext} -m comment --comment \"masquerade traffic for {spn} external destinations\" -j KUBE-MARK-MASQ");
                    let _ = writeln!(rules, "-A {ext} -j {svc}");
                }
            }
        }
    }
    let _ = writeln!(
        rules,
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
    );
    let mut filter = String::from("*filter\n:KUBE-EXTERNAL-SERVICES - [0:0]\n");
    for s in services {
        if s.node_port != 0 && s.local.as_ref().is_some_and(Vec::is_empty) {
            let _ = writeln!(
                filter,
                "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"{} has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport {} -j DROP",
                s.spn(),
                s.node_port
            );
        }
    }
    format!("{filter}COMMIT\n{decl}{rules}COMMIT\n")
}

/// `nft -f` input (table `ip kube-proxy`) for `services`, declarations first.
pub fn nft_script(services: &[SynthService]) -> String {
    let mut decl = String::from(
        "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n\
         add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n\
         add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }\n\
         add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }\n\
         add chain ip kube-proxy mark-for-masquerade\n\
         add chain ip kube-proxy services\n",
    );
    let mut rules = String::from(
        "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000\n\
         add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\n\
         add rule ip kube-proxy services meta l4proto . th dport vmap @service-nodeports\n",
    );
    for s in services {
        let base = format!("{}/{}/tcp/{}", s.namespace, s.name, s.port_name);
        let h = &h16(&base)[..8];
        let svc = format!("service-{h}-{base}");
        let local_chain = format!("local-{h}-{base}");
        let ext = format!("external-{h}-{base}");
        let ep_chain = |ep: &(String, u16)| {
            let name = format!("{base}__{}/{}", ep.0, ep.1);
            format!("endpoint-{}-{name}", &h16(&name)[..8])
        };
        let mut eps: Vec<&(String, u16)> = s.cluster.iter().collect();
        eps.extend(s.local.iter().flatten());
        eps.sort();
        eps.dedup();
        for ep in &eps {
            let c = ep_chain(ep);
            let _ = writeln!(decl, "add chain ip kube-proxy {c}");
            let _ = writeln!(
                rules,
                "add rule ip kube-proxy {c} ip saddr {} jump mark-for-masquerade",
                ep.0
            );
            let _ = writeln!(
                rules,
                "add rule ip kube-proxy {c} meta l4proto tcp dnat to {}",
                ep_str(ep)
            );
        }
        let vmap = |list: &[(String, u16)]| {
            list.iter()
                .enumerate()
                .map(|(i, ep)| format!("{i} : goto {}", ep_chain(ep)))
                .collect::<Vec<_>>()
                .join(" , ")
        };
        let _ = writeln!(decl, "add chain ip kube-proxy {svc}");
        let _ = writeln!(
            rules,
            "add rule ip kube-proxy {svc} ip daddr {} ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
            s.cluster_ip
        );
        if !s.cluster.is_empty() {
            let _ = writeln!(
                rules,
                "add rule ip kube-proxy {svc} numgen random mod {} vmap {{ {} }}",
                s.cluster.len(),
                vmap(&s.cluster)
            );
        }
        let _ = writeln!(
            rules,
            "add element ip kube-proxy service-ips {{ {} . tcp . {} : goto {svc} }}",
            s.cluster_ip, s.port
        );
        if s.node_port != 0 {
            let _ = writeln!(decl, "add chain ip kube-proxy {ext}");
            match &s.local {
                Some(local) => {
                    let _ = writeln!(rules, "add rule ip kube-proxy {ext} ip saddr 10.0.0.0/8 goto {svc} comment \"short-circuit pod traffic\"");
                    let _ = writeln!(rules, "add rule ip kube-proxy {ext} fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"");
                    let _ = writeln!(rules, "add rule ip kube-proxy {ext} fib saddr type local goto {svc} comment \"short-circuit local traffic\"");
                    if local.is_empty() {
                        let _ = writeln!(
                            rules,
                            "add element ip kube-proxy no-endpoint-nodeports {{ tcp . {} comment \"{}\" : drop }}",
                            s.node_port,
                            s.spn()
                        );
                    } else {
                        let _ = writeln!(decl, "add chain ip kube-proxy {local_chain}");
                        let _ = writeln!(rules, "add rule ip kube-proxy {ext} goto {local_chain}");
                        let _ = writeln!(
                            rules,
                            "add rule ip kube-proxy {local_chain} numgen random mod {} vmap {{ {} }}",
                            local.len(),
                            vmap(local)
                        );
                    }
                }
                None => {
                    let _ = writeln!(
                        rules,
                        "add rule ip kube-proxy {ext} jump mark-for-masquerade"
                    );
                    let _ = writeln!(rules, "add rule ip kube-proxy {ext} goto {svc}");
                }
            }
            let _ = writeln!(
                rules,
                "add element ip kube-proxy service-nodeports {{ tcp . {} : goto {ext} }}",
                s.node_port
            );
        }
    }
    format!("{decl}{rules}")
}

/// `count` Service ports with `per_service` endpoints each, all usable on this node.
pub fn many(count: usize, per_service: usize) -> Vec<SynthService> {
    (0..count)
        .map(|i| SynthService {
            namespace: format!("ns{}", i % 97),
            name: format!("svc{i}"),
            port_name: "http".into(),
            // 172.30.0.0/16 first (62,500 Services), then 172.31…: valid for any count used.
            cluster_ip: format!(
                "172.{}.{}.{}",
                30 + i / 62_500,
                (i / 250) % 250,
                i % 250 + 1
            ),
            port: 80,
            cluster: (0..per_service)
                .map(|j| {
                    let n = i * per_service + j;
                    (
                        format!("10.{}.{}.{}", 100 + n / 62500, (n / 250) % 250, n % 250 + 1),
                        8080,
                    )
                })
                .collect(),
            local: None,
            node_port: if i % 10 == 0 {
                30000 + (i / 10) as u16 % 2768
            } else {
                0
            },
        })
        .collect()
}

/// `ipvsadm -Ln` output for `services`: one virtual server per ClusterIP (and NodePort on
/// `node_ip`), its cluster endpoints as real servers.
pub fn ipvsadm(services: &[SynthService]) -> String {
    let node_ip = "172.18.0.2";
    let mut out = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    for s in services {
        let mut frontends = vec![format!("{}:{}", s.cluster_ip, s.port)];
        if s.node_port != 0 {
            frontends.push(format!("{node_ip}:{}", s.node_port));
        }
        for frontend in frontends {
            let _ = writeln!(out, "TCP  {frontend} rr");
            for ep in &s.cluster {
                let _ = writeln!(out, "  -> {:<28} Masq    1      0          0", ep_str(ep));
            }
        }
    }
    out
}
