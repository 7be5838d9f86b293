//! The Kubernetes API layer of the kind and kubeconfig backends.
//!
//! [`ClusterApi`] wraps a [`kube::Client`] and offers what the runner needs, nothing more:
//! - **apply** Namespaces, Services, Deployments, Pods and EndpointSlices given as JSON, with
//!   server-side apply (field manager [`FIELD_MANAGER`], forced), so fields that only older
//!   clusters know (`spec.topologyKeys` on 1.21) pass through untouched;
//! - **relabel nodes** with a merge patch, recording each label's original value;
//! - **delete** objects (404 = already done);
//! - **observe** nodes, Services and EndpointSlices as a [`ClusterState`], through the same
//!   reader as `kubectl` dumps ([`crate::input::load_state_str`]);
//! - **wait** for the EndpointSlices of a namespace to converge, driven by a
//!   `kube::runtime::watcher` (which re-lists and resumes by itself).
//!
//! Every call is retried with exponential backoff ([`RetryPolicy`]) on 409, 429, 500, 503, 504
//! and transport errors; any other failure is a [`KubeApiError`] naming the verb, the object
//! and the API server's message. Everything created or changed goes into a [`Ledger`] as it
//! happens, and [`Ledger::cleanup`] undoes it. The harness never changes an object it did not
//! create: applying an object that already exists and is not in the ledger is refused.

mod ledger;
mod retry;
mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde_json::Value;

pub use ledger::{CleanupAction, CleanupReport, Ledger, LedgerEntry};
pub use retry::{is_retryable, RetryPolicy};
pub use watch::{
    objects_to_state, wait_on, Convergence, SliceEvent, SliceStore, WaitDecision, WaitError,
};

use crate::backend::ServiceEvent;
use crate::input::InputError;
use crate::model::ClusterState;

/// The field manager of every server-side apply the harness makes.
pub const FIELD_MANAGER: &str = "topo-harness";

/// The kinds the harness creates.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// `v1` Namespace (cluster-scoped).
    Namespace,
    /// `v1` Service.
    Service,
    /// `apps/v1` Deployment.
    Deployment,
    /// `v1` Pod.
    Pod,
    /// `discovery.k8s.io/v1` EndpointSlice (GA since 1.21).
    EndpointSlice,
    /// `v1` Node (never created; relabeled and listed only).
    Node,
}

impl ObjectKind {
    /// The kinds [`ClusterApi::apply`] accepts.
    pub const APPLICABLE: [ObjectKind; 5] = [
        ObjectKind::Namespace,
        ObjectKind::Service,
        ObjectKind::Deployment,
        ObjectKind::Pod,
        ObjectKind::EndpointSlice,
    ];

    /// `(apiVersion, kind, plural)`.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ObjectKind::Namespace => ("v1", "Namespace", "namespaces"),
            ObjectKind::Service => ("v1", "Service", "services"),
            ObjectKind::Deployment => ("apps/v1", "Deployment", "deployments"),
            ObjectKind::Pod => ("v1", "Pod", "pods"),
            ObjectKind::EndpointSlice => ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
            ObjectKind::Node => ("v1", "Node", "nodes"),
        }
    }

    /// The `apiVersion`.
    pub fn api_version(self) -> &'static str {
        self.names().0
    }

    /// The `kind`.
    pub fn kind(self) -> &'static str {
        self.names().1
    }

    /// The resource name kubectl and the URL path use (`services`).
    pub fn kubectl_resource(self) -> &'static str {
        match self {
            ObjectKind::Namespace => "namespace",
            ObjectKind::Service => "service",
            ObjectKind::Deployment => "deployment",
            ObjectKind::Pod => "pod",
            ObjectKind::EndpointSlice => "endpointslice",
            ObjectKind::Node => "node",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        !matches!(self, ObjectKind::Namespace | ObjectKind::Node)
    }

    /// The applicable kind named by `apiVersion` and `kind`.
    pub fn from_type(api_version: &str, kind: &str) -> Option<ObjectKind> {
        ObjectKind::APPLICABLE
            .into_iter()
            .find(|k| k.api_version() == api_version && k.kind() == kind)
    }

    fn api_resource(self) -> ApiResource {
        let (api_version, kind, plural) = self.names();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// One object: kind, namespace (for namespaced kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The kind.
    pub kind: ObjectKind,
    /// The namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// A Namespace.
    pub fn namespace(name: &str) -> Self {
        ObjectRef {
            kind: ObjectKind::Namespace,
            namespace: None,
            name: name.to_string(),
        }
    }

    /// A namespaced object.
    pub fn namespaced(kind: ObjectKind, namespace: &str, name: &str) -> Self {
        ObjectRef {
            kind,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// A Node.
    pub fn node(name: &str) -> Self {
        ObjectRef {
            kind: ObjectKind::Node,
            namespace: None,
            name: name.to_string(),
        }
    }

    /// Reads `apiVersion`, `kind`, `metadata.namespace` and `metadata.name` from an object
    /// given as JSON. Namespaced kinds must name their namespace (there is no default).
    pub fn from_object(object: &Value) -> Result<Self, KubeApiError> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let invalid = |message: String| KubeApiError::InvalidObject { message };
        let api_version =
            text("/apiVersion").ok_or_else(|| invalid("apiVersion is missing".into()))?;
        let kind_name = text("/kind").ok_or_else(|| invalid("kind is missing".into()))?;
        let kind = ObjectKind::from_type(api_version, kind_name).ok_or_else(|| {
            let known: Vec<String> = ObjectKind::APPLICABLE
                .iter()
                .map(|k| format!("{} {}", k.api_version(), k.kind()))
                .collect();
            invalid(format!(
                "{api_version} {kind_name} cannot be applied; expected one of: {}",
                known.join(", ")
            ))
        })?;
        let name = text("/metadata/name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("{kind_name} has no metadata.name")))?;
        let namespace = match (kind.is_namespaced(), text("/metadata/namespace")) {
            (true, Some(ns)) if !ns.is_empty() => Some(ns.to_string()),
            (true, _) => {
                return Err(invalid(format!(
                    "{kind_name} {name} has no metadata.namespace"
                )))
            }
            (false, _) => None,
        };
        Ok(ObjectRef {
            kind,
            namespace,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.kind(), self.name),
            None => write!(f, "{} {}", self.kind.kind(), self.name),
        }
    }
}

/// What an API call was doing, for error messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Server-side apply.
    Apply,
    /// Read one object.
    Get,
    /// List objects.
    List,
    /// Merge-patch node labels.
    Label,
    /// Delete an object.
    Delete,
    /// Write an object's status (as a kubelet does).
    Status,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Apply => "apply",
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Label => "label",
            Verb::Delete => "delete",
            Verb::Status => "write the status of",
        })
    }
}

/// A failure of the API layer.
#[derive(Debug, thiserror::Error)]
pub enum KubeApiError {
    /// The API server refused the request (after retries, for retryable statuses).
    #[error("{verb} {object}: the API server answered {code} {reason}: {message}{}", attempts_note(*attempts))]
    Api {
        /// What was being done.
        verb: Verb,
        /// To what (`Service ns/web`, `nodes`).
        object: String,
        /// The HTTP status code.
        code: u16,
        /// The API status reason (`Forbidden`, `Conflict`, …).
        reason: String,
        /// The API server's message.
        message: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The request or its answer was lost on the way (after retries).
    #[error("{verb} {object}: could not reach the API server{}: {source}", attempts_note(*attempts))]
    Transport {
        /// What was being done.
        verb: Verb,
        /// To what.
        object: String,
        /// How many attempts were made.
        attempts: u32,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Any other client failure (a request that could not be built, an unreadable answer).
    #[error("{verb} {object}: {source}")]
    Client {
        /// What was being done.
        verb: Verb,
        /// To what.
        object: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {}: {message}", path.display())]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The context asked for is not in the kubeconfig (there is no fallback to another one).
    #[error("kubeconfig {} has no context {context:?}; it has: {}", path.display(), if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    ContextNotFound {
        /// The kubeconfig file.
        path: PathBuf,
        /// The context asked for.
        context: String,
        /// The contexts the file has.
        available: Vec<String>,
    },
    /// No context was asked for and the kubeconfig has no current context.
    #[error("kubeconfig {} sets no current-context; name a context", path.display())]
    NoContext {
        /// The kubeconfig file.
        path: PathBuf,
    },
    /// An object given to apply is not one the harness can apply.
    #[error("cannot apply this object: {message}")]
    InvalidObject {
        /// What is wrong with it.
        message: String,
    },
    /// The object exists but the harness did not create it, so it will not change it.
    #[error("{object} already exists and was not created by topo-harness; refusing to change it")]
    NotCreatedByHarness {
        /// The object.
        object: ObjectRef,
    },
    /// Listed objects could not be read into the model's types.
    #[error("reading the observed cluster state: {0}")]
    State(#[source] InputError),
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl KubeApiError {
    fn from_kube(verb: Verb, object: &str, attempts: u32, error: kube::Error) -> Self {
        let object = object.to_string();
        match error {
            kube::Error::Api(status) => KubeApiError::Api {
                verb,
                object,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
                attempts,
            },
            source @ (kube::Error::HyperError(_)
            | kube::Error::Service(_)
            | kube::Error::ReadEvents(_)) => KubeApiError::Transport {
                verb,
                object,
                attempts,
                source,
            },
            source => KubeApiError::Client {
                verb,
                object,
                source,
            },
        }
    }

    /// The HTTP status the API server answered with, for [`KubeApiError::Api`].
    pub fn status_code(&self) -> Option<u16> {
        match self {
            KubeApiError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The result of a delete.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The API server accepted the delete.
    Deleted,
    /// The object was not there (404).
    AlreadyGone,
}

/// A connection to one cluster's API server.
#[derive(Clone)]
pub struct ClusterApi {
    client: kube::Client,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    retry: RetryPolicy,
}

impl fmt::Debug for ClusterApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterApi")
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClusterApi {
    /// Connects with the kubeconfig at `path`, using `context` when given (an error if the
    /// file has no such context: never another one) or else the file's current context.
    pub async fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, KubeApiError> {
        let kubeconfig_error = |message: String| KubeApiError::Kubeconfig {
            path: path.to_path_buf(),
            message,
        };
        let kubeconfig =
            Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(e.to_string()))?;
        let context = match context {
            Some(name) => {
                if !kubeconfig.contexts.iter().any(|c| c.name == name) {
                    return Err(KubeApiError::ContextNotFound {
                        path: path.to_path_buf(),
                        context: name.to_string(),
                        available: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
                    });
                }
                name.to_string()
            }
            None => kubeconfig
                .current_context
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| KubeApiError::NoContext {
                    path: path.to_path_buf(),
                })?,
        };
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| kubeconfig_error(format!("context {context}: {e}")))?;
        let client = kube::Client::try_from(config)
            .map_err(|e| kubeconfig_error(format!("context {context}: {e}")))?;
        Ok(ClusterApi {
            client,
            kubeconfig: Some(path.to_path_buf()),
            context: Some(context),
            retry: RetryPolicy::default(),
        })
    }

    /// Wraps an existing client (tests build one over a mock service). `context` only names
    /// the cluster in [`kubectl`](Self::kubectl) commands.
    pub fn from_client(client: kube::Client, context: Option<String>) -> Self {
        ClusterApi {
            client,
            kubeconfig: None,
            context,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The kubeconfig context in use, when known.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The `kubectl` command prefix that reaches the same cluster
    /// (`kubectl --kubeconfig PATH --context NAME`), for commands shown to the user.
    pub fn kubectl(&self) -> String {
        let mut command = "kubectl".to_string();
        if let Some(path) = &self.kubeconfig {
            command.push_str(" --kubeconfig ");
            command.push_str(&ledger::shell_quote(&path.display().to_string()));
        }
        if let Some(context) = &self.context {
            command.push_str(" --context ");
            command.push_str(&ledger::shell_quote(context));
        }
        command
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    fn api(&self, kind: ObjectKind, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = kind.api_resource();
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// Runs `op`, retrying retryable failures per the policy.
    async fn call<T, F, Fut>(&self, verb: Verb, object: &str, mut op: F) -> Result<T, KubeApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) if attempt < max_attempts && is_retryable(&error) => {
                    tokio::time::sleep(self.retry.delay_before(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(KubeApiError::from_kube(verb, object, attempt, error)),
            }
        }
    }

    /// Creates or updates `object` with server-side apply and returns what the API server
    /// stored. The object is recorded in `ledger` before the request is sent. An object not in
    /// the ledger is first looked up (unless its namespace is one the harness created): if it
    /// already exists, the harness did not create it and the apply is refused.
    pub async fn apply(&self, ledger: &mut Ledger, object: &Value) -> Result<Value, KubeApiError> {
        let target = ObjectRef::from_object(object)?;
        let label = target.to_string();
        let api = self.api(target.kind, target.namespace.as_deref());
        let newly_recorded = !ledger.created(&target);
        if newly_recorded {
            let in_own_namespace = target
                .namespace
                .as_deref()
                .is_some_and(|ns| ledger.created_namespace(ns));
            if !in_own_namespace {
                let existing = self
                    .call(Verb::Get, &label, || api.get_opt(&target.name))
                    .await?;
                if existing.is_some() {
                    return Err(KubeApiError::NotCreatedByHarness { object: target });
                }
            }
            ledger.record_created(target.clone());
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(object);
        match self
            .call(Verb::Apply, &label, || {
                api.patch(&target.name, &params, &patch)
            })
            .await
        {
            Ok(stored) => serde_json::to_value(stored).map_err(|e| KubeApiError::Client {
                verb: Verb::Apply,
                object: label,
                source: kube::Error::SerdeError(e),
            }),
            Err(error) => {
                // The API server refused: nothing was created, nothing to clean up.
                if newly_recorded && matches!(error, KubeApiError::Api { .. }) {
                    ledger.forget_created(&target);
                }
                Err(error)
            }
        }
    }

    /// Sets (`Some`) or removes (`None`) labels of node `node` with a merge patch, after
    /// recording each label's original value in `ledger` (only the first change of a label
    /// is recorded, so cleanup restores the value from before the harness touched it).
    pub async fn relabel_node(
        &self,
        ledger: &mut Ledger,
        node: &str,
        labels: &BTreeMap<String, Option<String>>,
    ) -> Result<(), KubeApiError> {
        let target = ObjectRef::node(node).to_string();
        let api = self.api(ObjectKind::Node, None);
        let current = self.call(Verb::Get, &target, || api.get(node)).await?;
        let current_labels = current.metadata.labels.unwrap_or_default();
        for key in labels.keys() {
            ledger.record_label(node, key, current_labels.get(key).cloned());
        }
        self.patch_node_labels(node, labels).await
    }

    /// Merge-patches node labels: `Some` sets, `None` removes (no ledger entry).
    pub(crate) async fn patch_node_labels(
        &self,
        node: &str,
        labels: &BTreeMap<String, Option<String>>,
    ) -> Result<(), KubeApiError> {
        let target = ObjectRef::node(node).to_string();
        let api = self.api(ObjectKind::Node, None);
        let patch_body = serde_json::json!({ "metadata": { "labels": labels } });
        let patch = Patch::Merge(&patch_body);
        let params = PatchParams::default();
        self.call(Verb::Label, &target, || api.patch(node, &params, &patch))
            .await
            .map(|_| ())
    }

    /// Deletes an object (background propagation: a Namespace takes its contents with it).
    /// Deleting an object that is not there is not an error.
    pub async fn delete(&self, target: &ObjectRef) -> Result<DeleteOutcome, KubeApiError> {
        let api = self.api(target.kind, target.namespace.as_deref());
        let params = DeleteParams::background();
        match self
            .call(Verb::Delete, &target.to_string(), || {
                api.delete(&target.name, &params)
            })
            .await
        {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(KubeApiError::Api { code: 404, .. }) => Ok(DeleteOutcome::AlreadyGone),
            Err(error) => Err(error),
        }
    }

    /// Creates a Node (what a kubelet registers, status included; a cluster of the harness's
    /// own only).
    pub async fn create_node(&self, node: &Value) -> Result<(), KubeApiError> {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let label = ObjectRef::node(&name).to_string();
        let api = self.api(ObjectKind::Node, None);
        let object: DynamicObject =
            serde_json::from_value(node.clone()).map_err(|e| KubeApiError::Client {
                verb: Verb::Apply,
                object: label.clone(),
                source: kube::Error::SerdeError(e),
            })?;
        let params = kube::api::PostParams::default();
        self.call(Verb::Apply, &label, || api.create(&params, &object))
            .await
            .map(|_| ())
    }

    /// Deletes pod `name` of `namespace` with `grace` seconds (`None`: the pod's own
    /// `terminationGracePeriodSeconds`; `Some(0)`: at once, what the kubelet does once the
    /// containers stopped). A pod that is not there is not an error.
    pub async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace: Option<u32>,
    ) -> Result<DeleteOutcome, KubeApiError> {
        let target = ObjectRef::namespaced(ObjectKind::Pod, namespace, name);
        let api = self.api(ObjectKind::Pod, Some(namespace));
        let params = DeleteParams {
            grace_period_seconds: grace,
            ..DeleteParams::background()
        };
        match self
            .call(Verb::Delete, &target.to_string(), || {
                api.delete(name, &params)
            })
            .await
        {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(KubeApiError::Api { code: 404, .. }) => Ok(DeleteOutcome::AlreadyGone),
            Err(error) => Err(error),
        }
    }

    /// Merge-patches the `status` subresource of a Pod or Node (what a kubelet writes).
    pub async fn patch_status(
        &self,
        kind: ObjectKind,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<(), KubeApiError> {
        let label = match namespace {
            Some(ns) => ObjectRef::namespaced(kind, ns, name).to_string(),
            None => ObjectRef::node(name).to_string(),
        };
        let api = self.api(kind, namespace);
        let params = PatchParams::default();
        let patch = Patch::Merge(patch);
        self.call(Verb::Status, &label, || {
            api.patch_status(name, &params, &patch)
        })
        .await
        .map(|_| ())
    }

    /// Pod name → `status.phase` of every pod in `namespace`.
    pub async fn pod_phases(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, String>, KubeApiError> {
        let pods = self.list_objects(ObjectKind::Pod, Some(namespace)).await?;
        Ok(pods
            .iter()
            .filter_map(|p| {
                let name = p.pointer("/metadata/name")?.as_str()?.to_string();
                let phase = p
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Pending")
                    .to_string();
                Some((name, phase))
            })
            .collect())
    }

    async fn list_objects(
        &self,
        kind: ObjectKind,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, KubeApiError> {
        let api = self.api(kind, namespace);
        let what = match namespace {
            Some(ns) => format!("{} in namespace {ns}", kind.kubectl_resource()),
            None => format!("{}s", kind.kubectl_resource()),
        };
        let params = ListParams::default();
        let list = self.call(Verb::List, &what, || api.list(&params)).await?;
        list.items
            .into_iter()
            .map(|item| object_value(item, kind))
            .collect::<Result<_, _>>()
            .map_err(|e| KubeApiError::Client {
                verb: Verb::List,
                object: what.clone(),
                source: kube::Error::SerdeError(e),
            })
    }

    /// Lists the nodes, and the Services and EndpointSlices of `namespace`, as a
    /// [`ClusterState`] (read by the same code as `kubectl get -o json` dumps).
    pub async fn observe(&self, namespace: &str) -> Result<ClusterState, KubeApiError> {
        let mut items = self.list_objects(ObjectKind::Node, None).await?;
        items.extend(
            self.list_objects(ObjectKind::Service, Some(namespace))
                .await?,
        );
        items.extend(
            self.list_objects(ObjectKind::EndpointSlice, Some(namespace))
                .await?,
        );
        let origin = format!(
            "cluster {} namespace {namespace}",
            self.context.as_deref().unwrap_or("(no context)")
        );
        objects_to_state(items, &origin).map_err(KubeApiError::State)
    }

    /// The events recorded on Service `name` of `namespace`, oldest first. Lists core/v1
    /// Events, which also show those written through events.k8s.io/v1 (the EndpointSlice
    /// controller's `TopologyAwareHints*` events among them); a series' count is its count.
    pub async fn service_events(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<ServiceEvent>, KubeApiError> {
        let api: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), namespace);
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind=Service,involvedObject.name={name}"
        ));
        let what = format!("events of Service {name} in namespace {namespace}");
        let list = self.call(Verb::List, &what, || api.list(&params)).await?;
        let mut items = list.items;
        items.sort_by(|a, b| {
            let at = |e: &k8s_openapi::api::core::v1::Event| {
                e.first_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or_else(|| e.event_time.as_ref().map(|t| t.0))
                    .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
            };
            at(a).cmp(&at(b))
        });
        Ok(items
            .into_iter()
            .map(|e| ServiceEvent {
                event_type: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                count: e
                    .count
                    .or_else(|| e.series.as_ref().and_then(|s| s.count))
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    /// Watches the EndpointSlices of `namespace` until `predicate` holds on them and no event
    /// arrived for `stable_window`, giving up after `deadline` (measured from now) with
    /// [`WaitError::Timeout`] carrying the last observed state. The state holds the slices
    /// only (no nodes, no Services: use [`observe`](Self::observe) for those). The watch
    /// re-lists and resumes by itself when it ends or fails.
    pub async fn wait_for_slices<P>(
        &self,
        namespace: &str,
        predicate: P,
        deadline: Duration,
        stable_window: Duration,
    ) -> Result<ClusterState, WaitError>
    where
        P: FnMut(&ClusterState) -> bool,
    {
        let api = self.api(ObjectKind::EndpointSlice, Some(namespace));
        let events = watcher(api, watcher::Config::default()).map(|event| {
            let event = event.map_err(|e| e.to_string())?;
            let slice =
                |obj| object_value(obj, ObjectKind::EndpointSlice).map_err(|e| e.to_string());
            Ok::<_, String>(match event {
                watcher::Event::Init => SliceEvent::Relist,
                watcher::Event::InitApply(obj) => SliceEvent::Listed(slice(obj)?),
                watcher::Event::InitDone => SliceEvent::RelistDone,
                watcher::Event::Apply(obj) => SliceEvent::Applied(slice(obj)?),
                watcher::Event::Delete(obj) => SliceEvent::Deleted(slice(obj)?),
            })
        });
        wait_on(
            events,
            namespace,
            predicate,
            deadline,
            stable_window,
            &self.retry,
        )
        .await
    }
}

/// An object as kubectl prints it: with `apiVersion` and `kind` (list items lack them).
fn object_value(object: DynamicObject, kind: ObjectKind) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(object)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::from(kind.api_version()));
        map.insert("kind".into(), Value::from(kind.kind()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_object_refs() {
        let svc = serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "t"}});
        assert_eq!(
            ObjectRef::from_object(&svc).ok(),
            Some(ObjectRef::namespaced(ObjectKind::Service, "t", "web"))
        );
        let no_ns = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        assert_eq!(
            ObjectRef::from_object(&no_ns)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("cannot apply this object: Deployment web has no metadata.namespace")
        );
        let node =
            serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}});
        assert!(ObjectRef::from_object(&node).is_err());
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t", "namespace": "x"}});
        assert_eq!(
            ObjectRef::from_object(&ns).ok(),
            Some(ObjectRef::namespace("t"))
        );
    }

    #[test]
    fn api_resources_split_group_and_version() {
        let ar = ObjectKind::EndpointSlice.api_resource();
        assert_eq!(
            (ar.group.as_str(), ar.version.as_str()),
            ("discovery.k8s.io", "v1")
        );
        let ar = ObjectKind::Service.api_resource();
        assert_eq!((ar.group.as_str(), ar.version.as_str()), ("", "v1"));
    }
}
