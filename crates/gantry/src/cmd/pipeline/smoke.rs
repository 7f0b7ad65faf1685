//! The `smoke:` action: one HTTP request to the service (its `listen` address, where
//! gantry's router serves whatever version is live) or to a full URL, and a verdict on the
//! status it got. Retries are the step's `retries:`, not hidden here.

use std::time::{Duration, Instant};

use gantry_config::{Config, SmokeCheck, SmokeTarget};

/// How long one smoke request may take before the step fails.
const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(
    config: &Config,
    last_deployed: Option<String>,
    text: &str,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), String> {
    // `gantry check` rejects bad checks already; this holds for a config that skipped it.
    let check: SmokeCheck = text.parse()?;
    let url = url(config, last_deployed.as_deref(), &check)?;
    let method = reqwest::Method::from_bytes(check.method.as_bytes())
        .map_err(|_| format!("unknown HTTP method '{}'", check.method))?;
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        // The service is on loopback; a proxy from the environment must not get between.
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let started = Instant::now();
    let answer = http
        .request(method, &url)
        .header("user-agent", "gantry-smoke")
        .send()
        .await
        .map_err(|e| {
            format!(
                "{} {url}: no answer ({}); is the service deployed and `gantry serve` running?",
                check.method,
                error_chain(&e)
            )
        })?;
    let status = answer.status().as_u16();
    let version = answer
        .headers()
        .get("x-version")
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(", served by {v}"))
        .unwrap_or_default();
    let ms = started.elapsed().as_millis();
    let line = format!("{} {url} → {status} in {ms}ms{version}", check.method);
    log(&line);
    if check.expect.contains(status) {
        return Ok(());
    }
    // A little of the body usually says why (an error page, a JSON reason).
    let body = answer.text().await.unwrap_or_default();
    let excerpt: String = body.trim().chars().take(200).collect();
    if !excerpt.is_empty() {
        log(&format!("body: {excerpt}"));
    }
    Err(format!("{line}, expected {}", check.expect))
}

/// The request URL: a full URL as written, or the path on the service's `listen` address.
fn url(config: &Config, last_deployed: Option<&str>, check: &SmokeCheck) -> Result<String, String> {
    let path = match &check.target {
        SmokeTarget::Url(url) => return Ok(url.clone()),
        SmokeTarget::Path(path) => path,
    };
    let service = match last_deployed {
        Some(s) => s.to_string(),
        None if config.services.len() == 1 => {
            config.services.keys().next().cloned().unwrap_or_default()
        }
        None => {
            return Err(format!(
                "smoke check '{check}' names a path, but no `deploy:` step ran before it in this run \
                 and there are {} services to choose from; deploy first or write a full URL",
                config.services.len()
            ));
        }
    };
    // The last deploy may have targeted an environment (`web@staging`): its address.
    let (name, env) = gantry_config::split_target(&service);
    let listen = config
        .listen_in(name, env)
        .ok_or_else(|| format!("no service '{name}' in gantry.yaml"))?;
    Ok(format!("http://{}{path}", listen.0))
}

/// An error with its causes, so "connection refused" is not hidden behind "error sending
/// request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
