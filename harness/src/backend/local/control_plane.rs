//! The control plane of a local cluster: etcd, kube-apiserver and kube-controller-manager as
//! child processes, every one bound to 127.0.0.1 on free ports, with the shape's feature gates
//! and `--max-endpoints-per-slice`; credentials from [`Secrets`], logs in the cluster's
//! directory. The flags are pure functions of the shape (tested per release); [`ControlPlane`]
//! starts the processes and waits for each to answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process::{Process, ProcessError, Spawn};
use super::secrets::{Identity, Secrets};
use super::{layout, LocalBinaries, LocalError};
use crate::backend::kind::EndpointSliceController;
use crate::backend::kube_api::ClusterApi;
use crate::case::ClusterShape;
use crate::model::{FeatureGate, KubeVersion};

/// What a control plane is started with; shapes that agree on it share one (their node sets
/// are changed in place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlaneKey {
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Explicit gate settings.
    pub feature_gates: Vec<(FeatureGate, bool)>,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// Whether kube-controller-manager runs its EndpointSlice controller.
    pub controller: EndpointSliceController,
}

impl ControlPlaneKey {
    /// The key of `shape` with `controller`.
    pub fn of(shape: &ClusterShape, controller: EndpointSliceController) -> Self {
        ControlPlaneKey {
            version: shape.version,
            feature_gates: shape.feature_gates.clone(),
            max_endpoints_per_slice: shape.max_endpoints_per_slice,
            controller,
        }
    }
}

/// The loopback ports of one control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// etcd's client port.
    pub etcd_client: u16,
    /// etcd's peer port (unused, but etcd binds it: it must not collide either).
    pub etcd_peer: u16,
    /// kube-apiserver's secure port.
    pub apiserver: u16,
    /// kube-controller-manager's secure port (health, metrics).
    pub controller_manager: u16,
}

impl Ports {
    /// Four free ports.
    pub fn free() -> std::io::Result<Ports> {
        Ok(Ports {
            etcd_client: layout::free_port()?,
            etcd_peer: layout::free_port()?,
            apiserver: layout::free_port()?,
            controller_manager: layout::free_port()?,
        })
    }

    /// The API server's URL on the host.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.apiserver)
    }
}

/// `--feature-gates=A=true,B=false` for the explicit gate settings, or nothing.
pub fn gates_flag(gates: &[(FeatureGate, bool)]) -> Option<String> {
    if gates.is_empty() {
        return None;
    }
    let list: Vec<String> = gates
        .iter()
        .map(|(gate, on)| format!("{}={on}", gate.name()))
        .collect();
    Some(format!("--feature-gates={}", list.join(",")))
}

/// etcd's arguments: one member on loopback, data in `data_dir`, no fsync (a test cluster).
pub fn etcd_args(data_dir: &Path, ports: &Ports) -> Vec<String> {
    let client = format!("http://127.0.0.1:{}", ports.etcd_client);
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    vec![
        "--name=default".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

/// kube-apiserver's arguments: loopback only (advertised there too, with no endpoint
/// reconciler, which refuses loopback), token authentication, RBAC, the service account key,
/// the Service CIDR, and no ServiceAccount admission (no controller makes default accounts).
pub fn apiserver_args(secrets: &Secrets, ports: &Ports, key: &ControlPlaneKey) -> Vec<String> {
    let mut args = vec![
        format!("--etcd-servers=http://127.0.0.1:{}", ports.etcd_client),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.apiserver),
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={}", secrets.cert_dir().display()),
        format!("--token-auth-file={}", secrets.token_file().display()),
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!(
            "--service-account-key-file={}",
            secrets.sa_public_key().display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            secrets.sa_private_key().display()
        ),
        format!("--service-cluster-ip-range={}", layout::SERVICE_CIDR),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--enable-priority-and-fairness=false".into(),
        "--profiling=false".into(),
    ];
    args.extend(gates_flag(&key.feature_gates));
    args
}

/// The controllers a case needs: EndpointSlices (unless the user brings their own), their
/// mirroring, Endpoints (for the scale comparison), namespaces and garbage collection; no node
/// lifecycle (nodes send no heartbeats: it would mark them NotReady).
pub fn controllers(controller: EndpointSliceController) -> String {
    let mut list = Vec::new();
    if controller == EndpointSliceController::Builtin {
        list.push("endpointslice-controller");
    }
    list.extend([
        "endpointslice-mirroring-controller",
        "endpoints-controller",
        "namespace-controller",
        "garbage-collector-controller",
    ]);
    list.join(",")
}

/// kube-controller-manager's arguments.
pub fn controller_manager_args(
    kubeconfig: &Path,
    ports: &Ports,
    key: &ControlPlaneKey,
) -> Vec<String> {
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--authentication-kubeconfig={}", kubeconfig.display()),
        format!("--authorization-kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".into(),
        "--use-service-account-credentials=false".into(),
        format!("--controllers={}", controllers(key.controller)),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", ports.controller_manager),
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics".into(),
        format!("--max-endpoints-per-slice={}", key.max_endpoints_per_slice),
        "--kube-api-qps=200".into(),
        "--kube-api-burst=400".into(),
        "--profiling=false".into(),
    ];
    args.extend(gates_flag(&key.feature_gates));
    args
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// What it was started with.
    pub key: ControlPlaneKey,
    /// Its ports.
    pub ports: Ports,
    /// Its credentials.
    pub secrets: Secrets,
    /// The admin kubeconfig (for the harness, and for people with `--keep`).
    pub kubeconfig: PathBuf,
    /// Its API.
    pub api: ClusterApi,
    /// `/version`'s `gitVersion`.
    pub git_version: String,
    /// How long it took to answer `/readyz`.
    pub ready_after: Duration,
    processes: Vec<Process>,
}

/// How long the API server may take to answer `/readyz`.
const READY_DEADLINE: Duration = Duration::from_secs(90);

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager for `key` in `dir` (logs in
    /// `dir/logs`, credentials in `dir/secrets`), and waits until the API server is ready.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        binaries: &LocalBinaries,
        dir: &Path,
        key: &ControlPlaneKey,
        die_with_parent: bool,
    ) -> Result<ControlPlane, LocalError> {
        let started = Instant::now();
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| LocalError::io(&logs, e))?;
        let secrets = Secrets::create(&dir.join("secrets"))?;
        let ports = Ports::free().map_err(|e| LocalError::io(Path::new("127.0.0.1"), e))?;
        let spawn = |name: &str, program: &Path, args: Vec<String>| Spawn {
            name: name.to_string(),
            program: program.to_path_buf(),
            args,
            env: Vec::new(),
            log: logs.join(format!("{name}.log")),
            die_with_parent,
            piped: false,
        };
        let mut processes = Vec::new();
        let etcd_data = dir.join("etcd");
        processes.push(Process::start(&spawn(
            "etcd",
            &binaries.etcd,
            etcd_args(&etcd_data, &ports),
        ))?);
        let mut apiserver_args = apiserver_args(&secrets, &ports, key);
        apiserver_args.insert(0, "kube-apiserver".into());
        processes.push(Process::start(&spawn(
            "kube-apiserver",
            &binaries.k8s,
            apiserver_args,
        ))?);
        let kubeconfig = secrets.write_kubeconfig(Identity::Admin, "host", &ports.server())?;
        let (api, git_version) = wait_ready(rt, &mut processes, &secrets, &kubeconfig)?;
        let kcm_kubeconfig =
            secrets.write_kubeconfig(Identity::ControllerManager, "host", &ports.server())?;
        let mut kcm_args = controller_manager_args(&kcm_kubeconfig, &ports, key);
        kcm_args.insert(0, "kube-controller-manager".into());
        processes.push(Process::start(&spawn(
            "kube-controller-manager",
            &binaries.k8s,
            kcm_args,
        ))?);
        Ok(ControlPlane {
            key: key.clone(),
            ports,
            secrets,
            kubeconfig,
            api,
            git_version,
            ready_after: started.elapsed(),
            processes,
        })
    }

    /// `Ok` while every component runs; else which one ended, and how.
    pub fn check(&mut self) -> Result<(), ProcessError> {
        for p in &mut self.processes {
            p.check_running()?;
        }
        Ok(())
    }

    /// The components' pids by name (for the fault tests and for `--keep`).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .iter()
            .map(|p| (p.name().to_string(), p.pid()))
            .collect()
    }

    /// Lets go of the components without stopping them (a kept cluster).
    pub fn detach(&mut self) {
        self.processes.iter_mut().for_each(Process::detach);
    }

    /// Stops the components, newest first (kube-apiserver's graceful termination waits for
    /// long-running requests to drain: it gets a short grace, the cluster is thrown away).
    pub fn stop(&mut self) {
        for p in self.processes.iter_mut().rev() {
            p.stop(Duration::from_secs(2));
        }
    }
}

/// Waits until the API server's certificate exists and `/readyz` answers `ok`; fails at once
/// when etcd or the API server ends.
fn wait_ready(
    rt: &tokio::runtime::Runtime,
    processes: &mut [Process],
    secrets: &Secrets,
    kubeconfig: &Path,
) -> Result<(ClusterApi, String), LocalError> {
    let start = Instant::now();
    let mut api: Option<ClusterApi> = None;
    let mut last = String::from("no answer yet");
    while start.elapsed() < READY_DEADLINE {
        for p in processes.iter_mut() {
            p.check_running()?;
        }
        crate::backend::live::check_interrupt()?;
        if api.is_none() && secrets.ca_file().exists() {
            match rt.block_on(ClusterApi::from_kubeconfig(kubeconfig, None)) {
                Ok(connected) => api = Some(connected),
                Err(e) => last = e.to_string(),
            }
        }
        if let Some(api) = &api {
            let request = http::Request::get("/readyz").body(Vec::new());
            if let Ok(request) = request {
                match rt.block_on(api.client().request_text(request)) {
                    Ok(text) if text.trim() == "ok" => {
                        let version = rt
                            .block_on(api.client().apiserver_version())
                            .map(|v| v.git_version)
                            .unwrap_or_default();
                        return Ok((api.clone(), version));
                    }
                    Ok(text) => last = text,
                    Err(e) => last = e.to_string(),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(LocalError::NotReady {
        what: "kube-apiserver".into(),
        waited: READY_DEADLINE,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeatureGate;

    fn key(gates: Vec<(FeatureGate, bool)>) -> ControlPlaneKey {
        ControlPlaneKey {
            version: KubeVersion::new(37),
            feature_gates: gates,
            max_endpoints_per_slice: 3,
            controller: EndpointSliceController::Builtin,
        }
    }

    const PORTS: Ports = Ports {
        etcd_client: 2001,
        etcd_peer: 2002,
        apiserver: 2003,
        controller_manager: 2004,
    };

    #[test]
    fn everything_listens_on_loopback() {
        let secrets = Secrets::at(Path::new("/s"));
        let etcd = etcd_args(Path::new("/d/etcd"), &PORTS).join(" ");
        assert!(
            etcd.contains("--listen-client-urls=http://127.0.0.1:2001"),
            "{etcd}"
        );
        assert!(
            etcd.contains("--listen-peer-urls=http://127.0.0.1:2002"),
            "{etcd}"
        );
        let api = apiserver_args(&secrets, &PORTS, &key(vec![])).join(" ");
        assert!(
            api.contains("--bind-address=127.0.0.1 --secure-port=2003"),
            "{api}"
        );
        assert!(
            api.contains("--etcd-servers=http://127.0.0.1:2001"),
            "{api}"
        );
        assert!(api.contains("--token-auth-file=/s/tokens.csv"), "{api}");
        assert!(
            api.contains("--service-cluster-ip-range=10.96.0.0/16"),
            "{api}"
        );
        assert!(!api.contains("--feature-gates"), "{api}");
        let kcm = controller_manager_args(Path::new("/s/kcm"), &PORTS, &key(vec![])).join(" ");
        assert!(
            kcm.contains("--bind-address=127.0.0.1 --secure-port=2004"),
            "{kcm}"
        );
        assert!(kcm.contains("--max-endpoints-per-slice=3"), "{kcm}");
        assert!(kcm.contains("--leader-elect=false"), "{kcm}");
        assert!(!kcm.contains("node-lifecycle"), "{kcm}");
    }

    #[test]
    fn gates_and_controllers_follow_the_shape() {
        let gates = vec![
            (FeatureGate::PreferSameTrafficDistribution, false),
            (FeatureGate::TopologyAwareHints, true),
        ];
        assert_eq!(
            gates_flag(&gates).as_deref(),
            Some("--feature-gates=PreferSameTrafficDistribution=false,TopologyAwareHints=true")
        );
        assert_eq!(gates_flag(&[]), None);
        assert_eq!(
            controllers(EndpointSliceController::Builtin),
            "endpointslice-controller,endpointslice-mirroring-controller,endpoints-controller,namespace-controller,garbage-collector-controller"
        );
        assert!(!controllers(EndpointSliceController::None).contains("endpointslice-controller,"));
        assert!(controllers(EndpointSliceController::None).starts_with("endpointslice-mirroring"));
    }
}
