//! How a traffic split reads: relative weights as percentages, and — when the weights are
//! instance counts (a rolling update) — how many of the wanted instances each version has.
//! Canary weights are already percentages, so they read the same either way.

use std::collections::BTreeMap;

/// Each version's share of traffic in whole percent, summing to exactly 100 when any weight
/// is set (largest remainder, ties to the first version), so 2:1 reads 67/33. Versions
/// with weight 0 are left out.
pub fn percentages(weights: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    let total: u64 = weights.values().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return BTreeMap::new();
    }
    let mut out: Vec<(&String, u32, u64)> = weights
        .iter()
        .filter(|(_, w)| **w > 0)
        .map(|(v, w)| {
            let scaled = u64::from(*w) * 100;
            // At most 100: a share of a whole.
            let whole = u32::try_from(scaled / total).unwrap_or(100);
            (v, whole, scaled % total)
        })
        .collect();
    let given: u32 = out.iter().map(|(_, p, _)| *p).sum();
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|a, b| out[*b].2.cmp(&out[*a].2).then(a.cmp(b)));
    for i in order
        .into_iter()
        .take(100u32.saturating_sub(given) as usize)
    {
        out[i].1 += 1;
    }
    out.into_iter().map(|(v, p, _)| (v.clone(), p)).collect()
}

/// The timeline text of a traffic shift: `traffic v1=50 v2=50` (percent), and for weights
/// that count instances out of `instances_of` wanted, `traffic v1=67 v2=33 (instances
/// v1=2/3 v2=1/3)`. No weight at all reads `traffic none`.
pub fn describe(weights: &BTreeMap<String, u32>, instances_of: Option<u32>) -> String {
    let pct = percentages(weights);
    if pct.is_empty() {
        return "traffic none".into();
    }
    let pairs = |m: &BTreeMap<String, u32>, of: Option<u32>| {
        m.iter()
            .filter(|(_, w)| **w > 0)
            .map(|(v, w)| match of {
                Some(n) => format!("{v}={w}/{n}"),
                None => format!("{v}={w}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    match instances_of {
        Some(n) => format!(
            "traffic {} (instances {})",
            pairs(&pct, None),
            pairs(weights, Some(n))
        ),
        None => format!("traffic {}", pairs(&pct, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(v, w)| (v.to_string(), *w)).collect()
    }

    #[test]
    fn percentages_sum_to_100() {
        assert_eq!(
            percentages(&w(&[("v1", 2), ("v2", 1)])),
            w(&[("v1", 67), ("v2", 33)])
        );
        assert_eq!(
            percentages(&w(&[("a", 1), ("b", 1), ("c", 1)])),
            w(&[("a", 34), ("b", 33), ("c", 33)])
        );
        assert_eq!(
            percentages(&w(&[("v1", 80), ("v2", 20)])),
            w(&[("v1", 80), ("v2", 20)])
        );
        assert_eq!(percentages(&w(&[("v2", 3), ("v1", 0)])), w(&[("v2", 100)]));
        assert!(percentages(&w(&[("v1", 0)])).is_empty());
        assert_eq!(
            percentages(&w(&[("v1", u32::MAX), ("v2", u32::MAX)])),
            w(&[("v1", 50), ("v2", 50)])
        );
    }

    #[test]
    fn canary_reads_as_before_and_rolling_names_instances() {
        assert_eq!(
            describe(&w(&[("v1", 50), ("v2", 50)]), None),
            "traffic v1=50 v2=50"
        );
        assert_eq!(describe(&w(&[("v2", 100)]), None), "traffic v2=100");
        assert_eq!(
            describe(&w(&[("v1", 2), ("v2", 1)]), Some(3)),
            "traffic v1=67 v2=33 (instances v1=2/3 v2=1/3)"
        );
        assert_eq!(
            describe(&w(&[("v2", 1)]), Some(1)),
            "traffic v2=100 (instances v2=1/1)"
        );
        assert_eq!(describe(&BTreeMap::new(), Some(3)), "traffic none");
    }
}
