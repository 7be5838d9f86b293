//! Waiting for EndpointSlices to converge: a pure decision over timed observations, and the
//! driver that feeds it from a stream of watch events.
//!
//! The decision ([`Convergence`]) knows nothing of kube or tokio: events in (the time each
//! arrived and whether the predicate holds on the state after it), decision out. The driver
//! ([`wait_on`]) keeps the set of slices ([`SliceStore`]), converts it to a
//! [`ClusterState`] with [`crate::input::load_state_str`] after every event, and sleeps until
//! the next moment the decision can change.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::retry::RetryPolicy;
use crate::input::InputError;
use crate::model::ClusterState;

/// One change to the observed set of EndpointSlices, as a watch delivers it.
#[derive(Clone, Debug, PartialEq)]
pub enum SliceEvent {
    /// A (re-)list starts: the slices listed until [`SliceEvent::RelistDone`] replace all.
    Relist,
    /// A slice listed during a re-list.
    Listed(Value),
    /// The re-list is complete.
    RelistDone,
    /// A slice was added or modified.
    Applied(Value),
    /// A slice was deleted.
    Deleted(Value),
}

/// The slices currently known, keyed by `namespace/name`, as kubectl-style JSON objects.
#[derive(Clone, Debug, Default)]
pub struct SliceStore {
    current: BTreeMap<String, Value>,
    relisting: Option<BTreeMap<String, Value>>,
    synced: bool,
}

impl SliceStore {
    /// Applies one event.
    pub fn apply(&mut self, event: SliceEvent) {
        match event {
            SliceEvent::Relist => self.relisting = Some(BTreeMap::new()),
            SliceEvent::Listed(slice) => {
                let buffer = self.relisting.get_or_insert_with(BTreeMap::new);
                buffer.insert(key(&slice), slice);
            }
            SliceEvent::RelistDone => {
                self.current = self.relisting.take().unwrap_or_default();
                self.synced = true;
            }
            SliceEvent::Applied(slice) => {
                self.current.insert(key(&slice), slice);
            }
            SliceEvent::Deleted(slice) => {
                self.current.remove(&key(&slice));
            }
        }
    }

    /// Whether a full list has been seen and no re-list is in progress (only then does the
    /// store describe the cluster).
    pub fn is_synced(&self) -> bool {
        self.synced && self.relisting.is_none()
    }

    /// The slices as a [`ClusterState`] (no nodes, no services).
    pub fn to_state(&self, origin: &str) -> Result<ClusterState, InputError> {
        objects_to_state(self.current.values().cloned().collect(), origin)
    }
}

fn key(slice: &Value) -> String {
    let field = |name: &str| {
        slice
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    format!("{}/{}", field("namespace"), field("name"))
}

/// Converts kubectl-style objects (each with `apiVersion` and `kind`) to a [`ClusterState`]
/// through the same reader as `kubectl get -o json` dumps.
pub fn objects_to_state(items: Vec<Value>, origin: &str) -> Result<ClusterState, InputError> {
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    crate::input::load_state_str(&list.to_string(), origin).map(|loaded| loaded.state)
}

/// What to do next while waiting.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitDecision {
    /// The predicate holds and nothing changed for the stable window.
    Converged,
    /// Nothing to decide before this time (measured from the start of the wait), unless an
    /// event arrives.
    WaitUntil(Duration),
    /// The deadline passed without convergence.
    TimedOut,
}

/// The pure convergence rule: converged when the predicate holds on the state after the last
/// event and no event arrived for `stable_window`; timed out at `deadline`. Times are
/// durations since the start of the wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Convergence {
    deadline: Duration,
    stable_window: Duration,
    last_event: Duration,
    holds: bool,
}

impl Convergence {
    /// A wait that gives up after `deadline` and needs `stable_window` of quiet.
    pub fn new(deadline: Duration, stable_window: Duration) -> Self {
        Convergence {
            deadline,
            stable_window,
            last_event: Duration::ZERO,
            holds: false,
        }
    }

    /// An event arrived at `at`; `holds` says whether the predicate holds on the state after it
    /// (false while the state is incomplete, for example during a re-list).
    pub fn observe(&mut self, at: Duration, holds: bool) {
        self.last_event = self.last_event.max(at);
        self.holds = holds;
    }

    /// The decision at `now`.
    pub fn decide(&self, now: Duration) -> WaitDecision {
        let quiet_at = self.last_event.saturating_add(self.stable_window);
        if self.holds && quiet_at <= self.deadline && now >= quiet_at {
            return WaitDecision::Converged;
        }
        if now >= self.deadline {
            return WaitDecision::TimedOut;
        }
        if self.holds && quiet_at < self.deadline {
            WaitDecision::WaitUntil(quiet_at)
        } else {
            WaitDecision::WaitUntil(self.deadline)
        }
    }
}

/// Why a wait for EndpointSlices ended without convergence.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed; carries the last observed state (when a full list was ever seen)
    /// and the last watch error, if any.
    #[error(
        "timed out after {waited:?} waiting for the EndpointSlices in namespace {namespace} to converge ({})",
        describe_last(last.as_ref(), last_error.as_deref())
    )]
    Timeout {
        /// The namespace watched.
        namespace: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last observed state (slices only), `None` if no full list was ever received.
        last: Option<ClusterState>,
        /// The last error the watch reported (it recovers by itself), if any.
        last_error: Option<String>,
    },
    /// An observed slice could not be read into the model's types.
    #[error("the EndpointSlices in namespace {namespace} could not be read: {source}")]
    Convert {
        /// The namespace watched.
        namespace: String,
        /// What was wrong.
        #[source]
        source: InputError,
    },
}

fn describe_last(last: Option<&ClusterState>, error: Option<&str>) -> String {
    let seen = match last {
        Some(state) => format!("last saw {} EndpointSlice(s)", state.slices.len()),
        None => "never received a complete list".to_string(),
    };
    match error {
        Some(e) => format!("{seen}; last watch error: {e}"),
        None => seen,
    }
}

/// Waits on a stream of slice events (errors are reported by the stream and recovered from by
/// it, as `kube::runtime::watcher` does): returns the state once `predicate` holds on it and no
/// event arrived for `stable_window`, or [`WaitError::Timeout`] after `deadline`. After an
/// error the stream is polled again after the policy's backoff for consecutive errors.
pub async fn wait_on<S, E, P>(
    events: S,
    namespace: &str,
    mut predicate: P,
    deadline: Duration,
    stable_window: Duration,
    error_backoff: &RetryPolicy,
) -> Result<ClusterState, WaitError>
where
    S: Stream<Item = Result<SliceEvent, E>>,
    E: fmt::Display,
    P: FnMut(&ClusterState) -> bool,
{
    let start = tokio::time::Instant::now();
    let origin = format!("EndpointSlices in namespace {namespace}");
    let mut events = std::pin::pin!(events.fuse());
    let mut store = SliceStore::default();
    let mut rule = Convergence::new(deadline, stable_window);
    let mut last: Option<ClusterState> = None;
    let mut last_error: Option<String> = None;
    let mut errors_in_a_row = 0u32;
    loop {
        let until = match rule.decide(start.elapsed()) {
            WaitDecision::Converged => {
                return Ok(last.unwrap_or_else(ClusterState::empty));
            }
            WaitDecision::TimedOut => {
                return Err(WaitError::Timeout {
                    namespace: namespace.to_string(),
                    waited: start.elapsed(),
                    last,
                    last_error,
                });
            }
            WaitDecision::WaitUntil(until) => until,
        };
        let next = tokio::select! {
            next = events.next() => next,
            () = tokio::time::sleep_until(start + until) => continue,
        };
        match next {
            Some(Ok(event)) => {
                errors_in_a_row = 0;
                store.apply(event);
                let holds = if store.is_synced() {
                    let state = store
                        .to_state(&origin)
                        .map_err(|source| WaitError::Convert {
                            namespace: namespace.to_string(),
                            source,
                        })?;
                    let holds = predicate(&state);
                    last = Some(state);
                    holds
                } else {
                    false
                };
                rule.observe(start.elapsed(), holds);
            }
            Some(Err(error)) => {
                last_error = Some(error.to_string());
                errors_in_a_row = errors_in_a_row.saturating_add(1);
                let pause = error_backoff
                    .delay_before(errors_in_a_row)
                    .min(deadline.saturating_sub(start.elapsed()));
                tokio::time::sleep(pause).await;
            }
            // The stream ended: nothing more will change; the rule decides on what was seen.
            None => tokio::time::sleep_until(start + until).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn converges_after_a_quiet_window() {
        let mut rule = Convergence::new(MS(1000), MS(100));
        assert_eq!(rule.decide(MS(0)), WaitDecision::WaitUntil(MS(1000)));
        rule.observe(MS(10), false);
        assert_eq!(rule.decide(MS(10)), WaitDecision::WaitUntil(MS(1000)));
        rule.observe(MS(20), true);
        assert_eq!(rule.decide(MS(20)), WaitDecision::WaitUntil(MS(120)));
        // Another event restarts the window.
        rule.observe(MS(50), true);
        assert_eq!(rule.decide(MS(120)), WaitDecision::WaitUntil(MS(150)));
        assert_eq!(rule.decide(MS(150)), WaitDecision::Converged);
    }

    #[test]
    fn times_out_when_the_predicate_never_holds_or_never_settles() {
        let mut rule = Convergence::new(MS(300), MS(100));
        rule.observe(MS(10), false);
        assert_eq!(rule.decide(MS(300)), WaitDecision::TimedOut);
        rule.observe(MS(250), true);
        assert_eq!(rule.decide(MS(260)), WaitDecision::WaitUntil(MS(300)));
        assert_eq!(rule.decide(MS(300)), WaitDecision::TimedOut);
    }

    #[test]
    fn an_event_that_breaks_the_predicate_resets() {
        let mut rule = Convergence::new(MS(1000), MS(100));
        rule.observe(MS(10), true);
        rule.observe(MS(60), false);
        assert_eq!(rule.decide(MS(200)), WaitDecision::WaitUntil(MS(1000)));
    }

    fn slice(name: &str, zone: &str) -> Value {
        serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "web"}
            },
            "addressType": "IPv4",
            "endpoints": [{
                "addresses": ["10.0.0.1"],
                "conditions": {"ready": true},
                "zone": zone,
                "hints": {"forZones": [{"name": zone}]}
            }]
        })
    }

    #[test]
    fn store_replaces_everything_on_relist() {
        let mut store = SliceStore::default();
        store.apply(SliceEvent::Relist);
        store.apply(SliceEvent::Listed(slice("a", "z1")));
        assert!(!store.is_synced());
        store.apply(SliceEvent::RelistDone);
        store.apply(SliceEvent::Applied(slice("b", "z2")));
        assert!(store.is_synced());
        let names = |s: &SliceStore| -> Vec<String> {
            s.to_state("t")
                .map(|st| st.slices.into_iter().map(|s| s.name).collect())
                .unwrap_or_default()
        };
        assert_eq!(names(&store), ["a", "b"]);
        store.apply(SliceEvent::Relist);
        store.apply(SliceEvent::Listed(slice("c", "z1")));
        assert!(!store.is_synced());
        store.apply(SliceEvent::RelistDone);
        assert_eq!(names(&store), ["c"]);
        store.apply(SliceEvent::Deleted(slice("c", "z1")));
        assert_eq!(names(&store), Vec::<String>::new());
    }

    fn two_slices() -> impl FnMut(&ClusterState) -> bool {
        |s: &ClusterState| s.slices.len() == 2
    }

    #[tokio::test]
    async fn driver_converges_on_a_finite_stream() {
        let events = futures::stream::iter([
            SliceEvent::Relist,
            SliceEvent::Listed(slice("a", "z1")),
            SliceEvent::RelistDone,
            SliceEvent::Applied(slice("b", "z2")),
        ])
        .map(Ok::<_, String>);
        let state = wait_on(
            events,
            "ns",
            two_slices(),
            MS(2000),
            MS(50),
            &RetryPolicy::immediate(),
        )
        .await;
        assert_eq!(state.map(|s| s.slices.len()).ok(), Some(2));
    }

    #[tokio::test]
    async fn driver_times_out_with_the_last_state_and_error() {
        let events = futures::stream::iter([
            Ok(SliceEvent::Relist),
            Ok(SliceEvent::Listed(slice("a", "z1"))),
            Ok(SliceEvent::RelistDone),
            Err("watch failed: boom".to_string()),
        ])
        .chain(futures::stream::pending());
        let result = wait_on(
            events,
            "ns",
            two_slices(),
            MS(150),
            MS(20),
            &RetryPolicy::immediate(),
        )
        .await;
        match result {
            Err(WaitError::Timeout {
                last, last_error, ..
            }) => {
                assert_eq!(last.map(|s| s.slices.len()), Some(1));
                assert_eq!(last_error.as_deref(), Some("watch failed: boom"));
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}
