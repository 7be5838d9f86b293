//! kube-proxy's mode: the one spelling shared by cases, the CLI, the kind backend and the
//! dataplane parsers.

use std::fmt;
use std::str::FromStr;

use crate::model::version::KubeVersion;

/// kube-proxy mode (`--proxy-mode`, kind's `networking.kubeProxyMode`, kube-proxy's
/// `/proxyMode` answer), or no kube-proxy at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProxyMode {
    /// iptables (kind's default).
    #[default]
    Iptables,
    /// nftables (alpha 1.29, beta 1.31, GA 1.33).
    Nftables,
    /// IPVS (deprecated upstream since 1.35, KEP-5495).
    Ipvs,
    /// No kube-proxy: a replacement proxy (eBPF dataplane, custom proxy) installed by the
    /// user serves Services. On kind the cluster gets `networking.kubeProxyMode: none` and
    /// routes are observed with traffic probes (there are no kube-proxy rules to read); on
    /// the sim it is the reference proxy (the model), which is what a replacement must match.
    None,
}

/// A string that names no proxy mode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a kube-proxy mode; expected iptables, nftables, ipvs or none")]
pub struct UnknownProxyMode(pub String);

impl ProxyMode {
    /// Every mode, in a stable order.
    pub const ALL: [ProxyMode; 4] = [
        ProxyMode::Iptables,
        ProxyMode::Nftables,
        ProxyMode::Ipvs,
        ProxyMode::None,
    ];

    /// The `--proxy-mode` / `kubeProxyMode` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "ipvs",
            ProxyMode::None => "none",
        }
    }

    /// Whether kube-proxy runs and writes rules a backend can read (`false` for
    /// [`ProxyMode::None`]).
    pub fn has_kube_proxy(self) -> bool {
        self != ProxyMode::None
    }

    /// Why the mode does not exist in `version`, if it does not.
    pub fn unavailable(self, version: KubeVersion) -> Option<String> {
        (self == ProxyMode::Nftables && version.minor < 29).then(|| {
            format!("the nftables proxy mode does not exist before 1.29 (this is {version})")
        })
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProxyMode {
    type Err = UnknownProxyMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProxyMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| UnknownProxyMode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for m in ProxyMode::ALL {
            assert_eq!(m.as_str().parse::<ProxyMode>(), Ok(m));
        }
        assert_eq!(
            "userspace".parse::<ProxyMode>(),
            Err(UnknownProxyMode("userspace".into()))
        );
        assert!(ProxyMode::Nftables
            .unavailable(KubeVersion::new(28))
            .is_some());
        assert!(ProxyMode::Nftables
            .unavailable(KubeVersion::new(29))
            .is_none());
        assert!(!ProxyMode::None.has_kube_proxy());
    }
}
