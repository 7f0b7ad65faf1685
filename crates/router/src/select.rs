//! Weighted selection as pure functions: group a route's backends into versions that may
//! get traffic, then pick a version by weight and an instance within it.

use crate::route::Backend;

/// The ready instances of one version, with the version's weight.
#[derive(Debug, PartialEq)]
pub struct VersionGroup<'a> {
    pub version: &'a str,
    pub weight: u32,
    pub instances: Vec<&'a Backend>,
}

/// Groups `backends` by version, in order of first appearance. Only ready instances are
/// kept, and only versions with weight > 0 and at least one ready instance are returned, so
/// the share of a version without ready instances goes to the others in proportion.
/// A version's weight is the largest weight among its backends (ready or not).
pub fn group_ready(backends: &[Backend]) -> Vec<VersionGroup<'_>> {
    let mut groups: Vec<VersionGroup<'_>> = Vec::new();
    for b in backends {
        let idx = match groups.iter().position(|g| g.version == b.version) {
            Some(i) => i,
            None => {
                groups.push(VersionGroup {
                    version: &b.version,
                    weight: 0,
                    instances: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[idx];
        group.weight = group.weight.max(b.weight);
        if b.ready {
            group.instances.push(b);
        }
    }
    groups.retain(|g| g.weight > 0 && !g.instances.is_empty());
    groups
}

/// Picks the index whose cumulative weight range holds `roll`, where `roll` is uniform in
/// `0..weights.iter().sum()`. Entries with weight 0 are never picked. `None` if the total
/// is 0 or `roll` is out of range.
pub fn pick_weighted(weights: &[u64], roll: u64) -> Option<usize> {
    let mut upper = 0u64;
    for (i, w) in weights.iter().enumerate() {
        upper = upper.saturating_add(*w);
        if roll < upper {
            return Some(i);
        }
    }
    None
}

/// Picks among `len` candidates round-robin from `start`, skipping those for which
/// `excluded(i)` holds. `None` if every candidate is excluded.
pub fn pick_round_robin(
    len: usize,
    start: usize,
    excluded: impl Fn(usize) -> bool,
) -> Option<usize> {
    (0..len).map(|k| (start + k) % len).find(|&i| !excluded(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(version: &str, port: u16, weight: u32, ready: bool) -> Backend {
        Backend {
            version: version.into(),
            instance: format!("{version}-{port}"),
            addr: ([127, 0, 0, 1], port).into(),
            weight,
            ready,
        }
    }

    #[test]
    fn groups_ready_instances_by_version() {
        let backends = [
            backend("v1", 1, 90, true),
            backend("v2", 2, 10, true),
            backend("v1", 3, 90, false),
            backend("v1", 4, 90, true),
        ];
        let groups = group_ready(&backends);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].version, groups[0].weight), ("v1", 90));
        let ports: Vec<u16> = groups[0].instances.iter().map(|b| b.addr.port()).collect();
        assert_eq!(ports, [1, 4]);
        assert_eq!(
            (
                groups[1].version,
                groups[1].weight,
                groups[1].instances.len()
            ),
            ("v2", 10, 1)
        );
    }

    #[test]
    fn drops_versions_without_weight_or_ready_instances() {
        let backends = [
            backend("v1", 1, 100, false),
            backend("v2", 2, 0, true),
            backend("v3", 3, 5, true),
        ];
        let groups = group_ready(&backends);
        assert_eq!(groups.iter().map(|g| g.version).collect::<Vec<_>>(), ["v3"]);
        assert!(group_ready(&[]).is_empty());
    }

    #[test]
    fn version_weight_is_the_largest_of_its_backends() {
        let backends = [backend("v1", 1, 0, true), backend("v1", 2, 30, false)];
        assert_eq!(group_ready(&backends)[0].weight, 30);
    }

    #[test]
    fn weighted_pick_covers_exact_ranges() {
        let w = [90, 10];
        assert_eq!(pick_weighted(&w, 0), Some(0));
        assert_eq!(pick_weighted(&w, 89), Some(0));
        assert_eq!(pick_weighted(&w, 90), Some(1));
        assert_eq!(pick_weighted(&w, 99), Some(1));
        assert_eq!(pick_weighted(&w, 100), None);
        assert_eq!(pick_weighted(&[0, 0], 0), None);
        assert_eq!(pick_weighted(&[0, 3, 0, 1], 0), Some(1));
        assert_eq!(pick_weighted(&[0, 3, 0, 1], 3), Some(3));
    }

    #[test]
    fn weighted_pick_is_proportional_over_all_rolls() {
        let w = [50, 30, 20];
        let mut counts = [0; 3];
        for roll in 0..100 {
            counts[pick_weighted(&w, roll).unwrap()] += 1;
        }
        assert_eq!(counts, [50, 30, 20]);
    }

    #[test]
    fn round_robin_skips_excluded() {
        assert_eq!(pick_round_robin(3, 1, |_| false), Some(1));
        assert_eq!(pick_round_robin(3, 5, |_| false), Some(2));
        assert_eq!(pick_round_robin(3, 1, |i| i == 1), Some(2));
        assert_eq!(pick_round_robin(3, 2, |i| i != 0), Some(0));
        assert_eq!(pick_round_robin(3, 0, |_| true), None);
        assert_eq!(pick_round_robin(0, 0, |_| false), None);
    }
}
