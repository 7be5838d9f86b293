//! What a case step means for the Service: the object every backend creates or updates, built
//! the same way for the sim and live clusters.

use crate::case::{ServiceChange, StepAction, NAMESPACE, SERVICE_NAME};
use crate::model::{Service, ServicePort, ServiceType};

/// The node port a step asking for `nodePort` gets on the sim (live clusters let the API
/// server allocate one).
pub(crate) const NODE_PORT: u16 = 30080;

/// The case's Service before any step changes it: selecting the echo pods, one port 80/TCP.
pub(crate) fn default_service() -> Service {
    Service {
        selector: Some([("app".to_string(), SERVICE_NAME.to_string())].into()),
        cluster_ip: Some("10.96.0.10".to_string()),
        ports: vec![ServicePort {
            name: "http".to_string(),
            port: 80,
            protocol: "TCP".to_string(),
            node_port: 0,
        }],
        ..Service::new(NAMESPACE, SERVICE_NAME)
    }
}

/// The Service a step asks for: the current one with the step's change, or — when there is
/// none yet (first step, or a creation the API server rejected) — the case's definition plus
/// the change. Shared by every backend so they build the same object.
pub(crate) fn next_service(
    current: Option<&Service>,
    definition: Option<&ServiceChange>,
    action: &StepAction,
) -> Service {
    let mut candidate = match (current, &action.create_service) {
        (Some(existing), None) => existing.clone(),
        _ => {
            let mut fresh = default_service();
            if let Some(definition) = definition {
                apply_fields(&mut fresh, definition);
            }
            fresh
        }
    };
    if let Some(change) = &action.service {
        apply_fields(&mut candidate, change);
    }
    candidate
}

/// Applies the fields of `change` to `service`.
pub(crate) fn apply_fields(service: &mut Service, change: &ServiceChange) {
    for (key, value) in &change.annotations {
        match value {
            Some(v) => {
                service.annotations.insert(key.clone(), v.clone());
            }
            None => {
                service.annotations.remove(key);
            }
        }
    }
    if let Some(td) = &change.traffic_distribution {
        service.traffic_distribution = td.clone();
    }
    if let Some(p) = change.internal_traffic_policy {
        service.internal_traffic_policy = p;
    }
    if let Some(p) = change.external_traffic_policy {
        service.external_traffic_policy = p;
    }
    if let Some(keys) = &change.topology_keys {
        service.topology_keys = keys.clone();
    }
    if let Some(p) = change.publish_not_ready_addresses {
        service.publish_not_ready_addresses = p;
    }
    if let Some(node_port) = change.node_port {
        service.service_type = if node_port {
            ServiceType::NodePort
        } else {
            ServiceType::ClusterIp
        };
        for port in &mut service.ports {
            port.node_port = if node_port { NODE_PORT } else { 0 };
        }
    }
    if let Some(selector) = change.selector {
        service.selector = selector.then(|| [("app".to_string(), SERVICE_NAME.to_string())].into());
    }
}
