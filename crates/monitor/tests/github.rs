//! The GitHub status issue against a local HTTP server that implements the endpoints as
//! GitHub documents them (`GET /repos/{owner}/{repo}/issues` with `Link` pagination,
//! `POST` to create, `PATCH /repos/{owner}/{repo}/issues/{number}`) and records every
//! request, so the test asserts exactly what was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use gantry_monitor::github::{Backoff, IssueTarget, StatusIssue, Synced};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Option<Value>,
}

#[derive(Default)]
struct Fake {
    seen: Vec<Seen>,
    /// Issues (and pull requests) by number, in list order.
    items: Vec<Value>,
    /// Answer the next list request with a 403 rate limit.
    rate_limit_once: bool,
    /// Answer the next PATCH with a 500.
    fail_patch_once: bool,
    /// Answer every list request with a 403 that is not a rate limit (no permission).
    forbidden: bool,
    base: String,
}

type Shared = Arc<Mutex<Fake>>;

fn record(s: &Shared, method: Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    s.lock().unwrap().seen.push(Seen {
        method,
        uri: uri.to_string(),
        headers: headers.clone(),
        body: serde_json::from_slice(body).ok(),
    });
}

async fn list(
    State(s): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&s, Method::GET, &uri, &headers, &Bytes::new());
    let mut f = s.lock().unwrap();
    if f.forbidden {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "Resource not accessible by integration"})),
        )
            .into_response();
    }
    if f.rate_limit_once {
        f.rate_limit_once = false;
        return (
            StatusCode::FORBIDDEN,
            [("x-ratelimit-remaining", "0"), ("retry-after", "1")],
            Json(json!({"message": "API rate limit exceeded"})),
        )
            .into_response();
    }
    let label = q.get("labels").cloned().unwrap_or_default();
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let matching: Vec<Value> = f
        .items
        .iter()
        .filter(|i| {
            i["labels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["name"] == label.as_str())
        })
        .cloned()
        .collect();
    let pages = matching.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let mut links = Vec::new();
    let url = |p: usize| {
        format!(
            "<{}/repos/{owner}/{repo}/issues?labels={label}&state=all&per_page={per_page}&page={p}>",
            f.base
        )
    };
    if page < pages {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(pages)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    let mut resp = Json(Value::Array(chunk)).into_response();
    if !links.is_empty() {
        resp.headers_mut()
            .insert("link", links.join(", ").parse().unwrap());
    }
    resp
}

use axum::Json;

async fn create(
    State(s): State<Shared>,
    Path((_owner, _repo)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s, Method::POST, &uri, &headers, &body);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let mut f = s.lock().unwrap();
    let number = f.items.len() as u64 + 1;
    let issue = json!({"number": number, "title": v["title"], "body": v["body"], "state": "open",
        "labels": v["labels"].as_array().unwrap().iter().map(|l| json!({"name": l})).collect::<Vec<_>>()});
    f.items.push(issue.clone());
    (StatusCode::CREATED, Json(issue)).into_response()
}

async fn update(
    State(s): State<Shared>,
    Path((_owner, _repo, number)): Path<(String, String, u64)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s, Method::PATCH, &uri, &headers, &body);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let mut f = s.lock().unwrap();
    if f.fail_patch_once {
        f.fail_patch_once = false;
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    let Some(issue) = f.items.iter_mut().find(|i| i["number"] == number) else {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    };
    for (k, val) in v.as_object().unwrap() {
        issue[k] = val.clone();
    }
    Json(issue.clone()).into_response()
}

async fn start(fake: Fake) -> (Shared, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::new(Mutex::new(Fake {
        base: base.clone(),
        ..fake
    }));
    let app = Router::new()
        .route("/repos/{owner}/{repo}/issues", get(list).post(create))
        .route("/repos/{owner}/{repo}/issues/{number}", patch(update))
        .with_state(Arc::clone(&shared));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, base)
}

fn target(api: &str) -> IssueTarget {
    IssueTarget {
        api: api.to_string(),
        repo: "acme/shop".into(),
        token: "ghp_secret".into(),
        label: "gantry-status".into(),
        title: "gantry status: shop".into(),
    }
}

fn quick() -> Backoff {
    Backoff {
        first: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
        attempts: 4,
    }
}

fn issue(number: u64, title: &str, label: &str, state: &str) -> Value {
    json!({"number": number, "title": title, "state": state, "body": "old", "labels": [{"name": label}]})
}

fn assert_github_headers(s: &Seen) {
    let h = |n: &str| s.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        h("authorization").as_deref(),
        Some("Bearer ghp_secret"),
        "{s:?}"
    );
    assert_eq!(h("accept").as_deref(), Some("application/vnd.github+json"));
    assert_eq!(h("x-github-api-version").as_deref(), Some("2022-11-28"));
    assert!(h("user-agent").unwrap().starts_with("gantry/"), "{s:?}");
    if s.body.is_some() {
        assert_eq!(h("content-type").as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn a_closed_issue_on_page_three_is_found_reopened_and_updated_across_a_rate_limit_and_a_500()
{
    // 250 other issues with the label (3 pages of 100), a pull request with our very
    // title on page 1, and our issue, closed, on page 3.
    let mut items: Vec<Value> = (1..=250)
        .map(|n| issue(n, &format!("something else {n}"), "gantry-status", "open"))
        .collect();
    let mut pr = issue(251, "gantry status: shop", "gantry-status", "open");
    pr["pull_request"] = json!({"url": "https://example/pulls/251"});
    items.insert(3, pr);
    items.push(issue(252, "gantry status: shop", "gantry-status", "closed"));
    items.push(issue(253, "gantry status: shop", "other-label", "open"));
    let (fake, base) = start(Fake {
        items,
        rate_limit_once: true,
        fail_patch_once: true,
        ..Fake::default()
    })
    .await;
    let mut sync = StatusIssue::new(target(&base), quick()).unwrap();
    let outcome = sync.sync("# OPERATIONAL").await.unwrap();
    assert_eq!(outcome, Synced::Reopened { number: 252 });

    let seen = fake.lock().unwrap().seen.clone();
    let summary: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    let list = "/repos/acme/shop/issues?labels=gantry-status&state=all&per_page=100";
    assert_eq!(
        summary,
        [
            format!("GET {list}"),
            // After the 403 with Retry-After: the same page again.
            format!("GET {list}"),
            format!("GET {list}&page=2"),
            format!("GET {list}&page=3"),
            // The 500, then the retry.
            "PATCH /repos/acme/shop/issues/252".to_string(),
            "PATCH /repos/acme/shop/issues/252".to_string(),
        ],
        "never the search API, never a create"
    );
    for s in &seen {
        assert_github_headers(s);
    }
    assert_eq!(
        seen[5].body,
        Some(json!({"body": "# OPERATIONAL", "state": "open"}))
    );

    // The same report again: nothing sent. A changed one: one PATCH, no new search.
    assert_eq!(sync.sync("# OPERATIONAL").await.unwrap(), Synced::Unchanged);
    assert_eq!(
        sync.sync("# DEGRADED").await.unwrap(),
        Synced::Updated { number: 252 }
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.seen.len(), 7);
    assert_eq!(f.seen[6].method, Method::PATCH);
    let ours = f.items.iter().find(|i| i["number"] == 252).unwrap();
    assert_eq!(ours["state"], "open");
    assert_eq!(ours["body"], "# DEGRADED");
    assert_eq!(
        f.items
            .iter()
            .filter(|i| i["title"] == "gantry status: shop")
            .count(),
        3,
        "no duplicate was created"
    );
}

#[tokio::test]
async fn the_issue_is_created_once_then_updated_by_a_new_client_too() {
    let (fake, base) = start(Fake {
        items: vec![issue(1, "gantry status: shop", "unrelated", "open")],
        ..Fake::default()
    })
    .await;
    let mut sync = StatusIssue::new(target(&base), quick()).unwrap();
    assert_eq!(
        sync.sync("first").await.unwrap(),
        Synced::Created { number: 2 }
    );
    {
        let f = fake.lock().unwrap();
        let post = f.seen.iter().find(|s| s.method == Method::POST).unwrap();
        assert_github_headers(post);
        assert_eq!(post.uri, "/repos/acme/shop/issues");
        assert_eq!(
            post.body,
            Some(
                json!({"title": "gantry status: shop", "body": "first", "labels": ["gantry-status"]})
            )
        );
    }
    // A restarted control plane finds it again instead of creating a second one.
    let mut again = StatusIssue::new(target(&base), quick()).unwrap();
    assert_eq!(
        again.sync("second").await.unwrap(),
        Synced::Updated { number: 2 }
    );
    let f = fake.lock().unwrap();
    assert_eq!(
        f.seen.iter().filter(|s| s.method == Method::POST).count(),
        1
    );
}

#[tokio::test]
async fn persistent_errors_are_reported_with_the_status_and_message() {
    let (fake, base) = start(Fake::default()).await;
    fake.lock().unwrap().items = vec![issue(1, "gantry status: shop", "gantry-status", "open")];
    {
        let mut f = fake.lock().unwrap();
        f.fail_patch_once = true;
    }
    // Backoff with one attempt: the 500 is the answer.
    let mut sync = StatusIssue::new(
        target(&base),
        Backoff {
            attempts: 1,
            ..quick()
        },
    )
    .unwrap();
    let e = sync.sync("x").await.unwrap_err().to_string();
    assert!(e.contains("PATCH") && e.contains("answered 500"), "{e}");
    // A 403 without rate-limit headers is a permission problem: reported, not retried.
    let before = fake.lock().unwrap().seen.len();
    fake.lock().unwrap().forbidden = true;
    let e = StatusIssue::new(target(&base), quick())
        .unwrap()
        .sync("x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("answered 403: Resource not accessible by integration"),
        "{e}"
    );
    assert_eq!(fake.lock().unwrap().seen.len(), before + 1, "no retry");
}
