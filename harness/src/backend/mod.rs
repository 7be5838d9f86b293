//! Backends: where the harness gets a cluster from.
//!
//! Only the kind-specific layer lives here for now ([`kind`]); it does not depend on the
//! backend-neutral runner, so it can be wired behind the runner's backend trait later.

pub mod kind;
