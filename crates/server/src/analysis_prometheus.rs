//! The HTTP side of `analysis.prometheus`: the instant query (`GET <url>/api/v1/query`)
//! behind [`InstantQuery`], and the window's verdict joined with the router's. The
//! judgement itself is pure and lives in `gantry_deploy::analysis_prometheus`.

use std::sync::OnceLock;
use std::time::Duration;

use gantry_config::Analysis;
use gantry_deploy::BoxFuture;
use gantry_deploy::Verdict;
use gantry_deploy::analysis_prometheus::{self as prom, InstantQuery, PromVerdict};
use serde_json::Value;

/// A query slower than this is a failed query: the window's verdict must not wait on it.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

struct Http(reqwest::Client);

impl InstantQuery for Http {
    fn instant<'a>(&'a self, url: &'a str, query: &'a str) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let mut endpoint =
                reqwest::Url::parse(&format!("{}/api/v1/query", url.trim_end_matches('/')))
                    .map_err(|e| format!("bad Prometheus URL '{url}': {e}"))?;
            endpoint.query_pairs_mut().append_pair("query", query);
            let answer = self
                .0
                .get(endpoint)
                .send()
                .await
                .map_err(|e| format!("cannot query {url}: {}", chain(&e)))?;
            let status = answer.status();
            let body = answer
                .bytes()
                .await
                .map_err(|e| format!("cannot read the answer of {url}: {}", chain(&e)))?;
            // Prometheus answers bad queries with 400/422 and its JSON error envelope,
            // which names the error better than the status does.
            match serde_json::from_slice::<Value>(&body) {
                Ok(v) if status.is_success() || v.get("status").is_some() => Ok(v),
                _ => Err(format!(
                    "{url} answered HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
                )),
            }
        })
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn client() -> Result<&'static Http, String> {
    static CLIENT: OnceLock<Http> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .timeout(QUERY_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(CLIENT.get_or_init(|| Http(built)))
}

/// The window's verdict: the router's (`router`), joined with the query's when `rules`
/// has one. Without router rules the query alone decides.
pub(crate) async fn judge(
    rules: &Analysis,
    service: &str,
    version: &str,
    router: Verdict,
) -> (Verdict, Option<PromVerdict>) {
    let Some(rule) = &rules.prometheus else {
        return (router, None);
    };
    let judged = match client() {
        Ok(http) => prom::run(http, rule, service, version).await,
        Err(why) => prom::judge_query(
            rule,
            &prom::render(&rule.query, service, version),
            &Err(why),
        ),
    };
    tracing::info!(%service, %version, query = %judged.query, value = ?judged.value, verdict = ?judged.verdict, "prometheus analysis");
    let router = prom::has_router_rules(rules).then_some(router);
    (prom::combine(router, judged.verdict.clone()), Some(judged))
}
