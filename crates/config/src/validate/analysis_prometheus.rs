//! Checks of `analysis.prometheus`: a URL the query can be sent to, a query, and no
//! placeholder that would reach Prometheus unreplaced.

use super::Problems;
use crate::{Config, unknown_placeholders};

pub(super) fn check(config: &Config, p: &mut Problems<'_>) {
    for (name, svc) in &config.services {
        let Some(prom) = svc.analysis.as_ref().and_then(|a| a.prometheus.as_ref()) else {
            continue;
        };
        let url = &prom.url;
        if let Err(why) = check_url(url) {
            p.add(
                url.pos,
                "gantry::config::prometheus",
                "url",
                format!("service '{name}' `analysis.prometheus.url`: {why}"),
            );
        }
        let query = &prom.query;
        if query.trim().is_empty() {
            p.add(
                query.pos,
                "gantry::config::prometheus",
                "empty query",
                format!("service '{name}' `analysis.prometheus.query` is empty; give a PromQL query that returns one number"),
            );
        }
        for unknown in unknown_placeholders(query) {
            p.add(
                query.pos,
                "gantry::config::prometheus",
                "unknown placeholder",
                format!(
                    "service '{name}' `analysis.prometheus.query` has the placeholder '{unknown}'; only {{{{service}}}} and {{{{version}}}} are replaced"
                ),
            );
        }
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("'{url}': https is not supported yet; use http:// (e.g. a local Prometheus)")
        } else {
            format!("'{url}' is not an http:// URL")
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "'{url}' has a query or fragment; give the base URL (the query goes to <url>/api/v1/query)"
        ));
    }
    Ok(())
}
