//! Sharding, as Flux shards by its sharding key: a controller started with `--shard NAME`
//! owns the GitSyncs labelled `kubectl-gitops.io/shard: NAME`; one without `--shard` owns those
//! without the label. Every sync has exactly one owner, and each shard elects its own leader.

use super::crd::SHARD_LABEL;

/// The label selector of the syncs a controller owns.
pub fn selector(shard: Option<&str>) -> String {
    match shard {
        Some(name) => format!("{SHARD_LABEL}={name}"),
        None => format!("!{SHARD_LABEL}"),
    }
}

/// The leader Lease of a shard: one leader per shard, however many replicas each has.
pub fn lease_name(shard: Option<&str>) -> String {
    match shard {
        Some(name) => format!("kubectl-gitops-controller-{name}"),
        None => "kubectl-gitops-controller".into(),
    }
}

/// Whether `name` can be a label value (and so a shard name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_belongs_to_its_shard_or_to_the_unsharded_controller() {
        assert_eq!(selector(Some("a")), "kubectl-gitops.io/shard=a");
        assert_eq!(selector(None), "!kubectl-gitops.io/shard");
        assert_ne!(lease_name(Some("a")), lease_name(Some("b")));
        assert_ne!(lease_name(Some("a")), lease_name(None));
    }

    #[test]
    fn shard_names_are_label_values() {
        assert!(valid_name("shard-1"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }
}
