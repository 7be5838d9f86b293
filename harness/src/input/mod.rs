//! Reading a [`ClusterState`](crate::model::ClusterState) from files.
