//! The Prometheus input of an analysis (`analysis.prometheus`): a PromQL instant query,
//! with `{{service}}` and `{{version}}` filled in, whose one number must meet a threshold.
//!
//! The query itself runs behind [`InstantQuery`] (HTTP lives in the server); everything
//! here is pure: rendering the query, reading the API's answer, the verdict, and how it
//! joins the router's verdict. No data and NaN are "inconclusive", never a pass, and a
//! failed query is reported as a failed query, not as a bad canary.

use gantry_config::{Analysis, Prometheus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis::Verdict;
use crate::driver::BoxFuture;

/// Runs one PromQL instant query against the Prometheus at `url` (its base URL) and
/// returns the API's JSON answer, or why it could not be had.
pub trait InstantQuery: Send + Sync {
    fn instant<'a>(&'a self, url: &'a str, query: &'a str) -> BoxFuture<'a, Result<Value, String>>;
}

/// What one query gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Sample {
    /// One number (possibly NaN or infinite).
    Value { value: f64 },
    /// An empty result: no series matched.
    NoData,
}

/// The Prometheus rule's judgement of one window, with what was asked and answered; it
/// goes into the deployment's analysis and, on a rollback, the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromVerdict {
    pub query: String,
    /// The number the query returned, when it returned a finite one or an infinity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub threshold: String,
    pub verdict: Verdict,
}

/// The query with `{{service}}` and `{{version}}` (spaces inside the braces allowed)
/// replaced.
#[must_use]
pub fn render(template: &str, service: &str, version: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].trim() {
            "service" => out.push_str(service),
            "version" => out.push_str(version),
            _ => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Reads an answer of `GET /api/v1/query` (Prometheus' documented envelope:
/// `{"status": "success", "data": {"resultType": …, "result": …}}`).
pub fn parse_answer(answer: &Value) -> Result<Sample, String> {
    if answer.get("status").and_then(Value::as_str) != Some("success") {
        let kind = answer
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        return Err(format!("Prometheus answered {kind}: {error}"));
    }
    let data = answer.get("data").ok_or("the answer has no `data`")?;
    let result = data
        .get("result")
        .ok_or("the answer has no `data.result`")?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => sample_value(result).map(|value| Sample::Value { value }),
        Some("vector") => {
            let series = result.as_array().ok_or("`data.result` is not a list")?;
            match series.as_slice() {
                [] => Ok(Sample::NoData),
                [one] => sample_value(one.get("value").ok_or("a series has no `value`")?)
                    .map(|value| Sample::Value { value }),
                many => Err(format!(
                    "the query returned {} series; it must return one number (aggregate it, e.g. with sum())",
                    many.len()
                )),
            }
        }
        Some(other) => Err(format!(
            "the query returned a {other}; it must return one number (an instant vector of one series or a scalar)"
        )),
        None => Err("the answer has no `data.resultType`".into()),
    }
}

/// `[ <unix time>, "<value>" ]`; the value is text so that NaN and ±Inf can be written.
fn sample_value(pair: &Value) -> Result<f64, String> {
    let text = pair
        .as_array()
        .and_then(|p| p.get(1))
        .and_then(Value::as_str)
        .ok_or("a sample is not [time, \"value\"]")?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        t => t
            .parse::<f64>()
            .map_err(|_| format!("the sample value '{t}' is not a number")),
    }
}

/// The verdict of `rule` on what `query` gave.
#[must_use]
pub fn judge_query(rule: &Prometheus, query: &str, got: &Result<Sample, String>) -> PromVerdict {
    let threshold = rule.threshold.to_string();
    let (value, verdict) = match got {
        Err(why) => (
            None,
            Verdict::Inconclusive {
                reason: format!("prometheus query failed: {why} (query: {query})"),
            },
        ),
        Ok(Sample::NoData) => (
            None,
            Verdict::Inconclusive {
                reason: format!("prometheus query returned no data (query: {query})"),
            },
        ),
        Ok(Sample::Value { value }) if value.is_nan() => (
            None,
            Verdict::Inconclusive {
                reason: format!("prometheus query returned NaN (query: {query})"),
            },
        ),
        Ok(Sample::Value { value }) => {
            let v = *value;
            let met = rule.threshold.is_met_by(gantry_config::Number(v));
            let verdict = if met {
                Verdict::Pass
            } else {
                Verdict::Fail {
                    reasons: vec![format!(
                        "prometheus query = {v} breaks \"{threshold}\" (query: {query})"
                    )],
                }
            };
            (Some(v), verdict)
        }
    };
    PromVerdict {
        query: query.to_string(),
        value,
        threshold,
        verdict,
    }
}

/// Whether the router's own rules (error rate, p99, probe failures) judge anything; an
/// analysis with only a Prometheus rule is judged by the query alone.
#[must_use]
pub fn has_router_rules(rules: &Analysis) -> bool {
    rules.error_rate.is_some() || rules.latency_p99.is_some() || rules.probe_failures.is_some()
}

/// One window's verdict from the router's and the query's: any failure fails (with every
/// reason), then anything inconclusive is inconclusive, and only two passes pass.
#[must_use]
pub fn combine(router: Option<Verdict>, query: Verdict) -> Verdict {
    let Some(router) = router else {
        return query;
    };
    match (router, query) {
        (Verdict::Fail { mut reasons }, Verdict::Fail { reasons: more }) => {
            reasons.extend(more);
            Verdict::Fail { reasons }
        }
        (f @ Verdict::Fail { .. }, _) | (_, f @ Verdict::Fail { .. }) => f,
        (Verdict::Inconclusive { reason: a }, Verdict::Inconclusive { reason: b }) => {
            Verdict::Inconclusive {
                reason: format!("{a}; {b}"),
            }
        }
        (i @ Verdict::Inconclusive { .. }, Verdict::Pass)
        | (Verdict::Pass, i @ Verdict::Inconclusive { .. }) => i,
        (Verdict::Pass, Verdict::Pass) => Verdict::Pass,
    }
}

/// Runs the rule's query for `service`'s `version` through `runner` and judges it.
pub async fn run(
    runner: &dyn InstantQuery,
    rule: &Prometheus,
    service: &str,
    version: &str,
) -> PromVerdict {
    let query = render(&rule.query, service, version);
    let got = runner
        .instant(&rule.url, &query)
        .await
        .and_then(|answer| parse_answer(&answer));
    judge_query(rule, &query, &got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(threshold: &str) -> Prometheus {
        serde_json::from_value(json!({"query": "q", "threshold": threshold})).unwrap()
    }

    fn vector(values: &[&str]) -> Value {
        let result: Vec<Value> = values
            .iter()
            .map(|v| json!({"metric": {}, "value": [1_700_000_000.5, v]}))
            .collect();
        json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    }

    #[test]
    fn placeholders_are_filled_in_and_unknown_ones_named() {
        assert_eq!(
            render(
                r#"x{service="{{service}}",version="{{ version }}"} / y{s="{{service}}"}"#,
                "web",
                "v2"
            ),
            r#"x{service="web",version="v2"} / y{s="web"}"#
        );
        assert_eq!(render("a {{other}} b {{", "s", "v"), "a {{other}} b {{");
    }

    #[test]
    fn answers_are_read_as_prometheus_documents_them() {
        assert_eq!(
            parse_answer(&vector(&["0.25"])),
            Ok(Sample::Value { value: 0.25 })
        );
        assert_eq!(parse_answer(&vector(&[])), Ok(Sample::NoData));
        let Ok(Sample::Value { value }) = parse_answer(&vector(&["NaN"])) else {
            panic!()
        };
        assert!(value.is_nan());
        assert_eq!(
            parse_answer(&vector(&["+Inf"])),
            Ok(Sample::Value {
                value: f64::INFINITY
            })
        );
        let scalar =
            json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}});
        assert_eq!(parse_answer(&scalar), Ok(Sample::Value { value: 3.0 }));
        let two = parse_answer(&vector(&["1", "2"])).unwrap_err();
        assert!(two.contains("2 series"), "{two}");
        let bad =
            json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"});
        assert_eq!(
            parse_answer(&bad).unwrap_err(),
            "Prometheus answered bad_data: parse error at char 3"
        );
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
        assert!(parse_answer(&matrix).unwrap_err().contains("matrix"));
    }

    #[test]
    fn no_data_nan_and_errors_are_never_a_pass() {
        let r = rule("< 0.05");
        let v = judge_query(&r, "q", &Ok(Sample::NoData));
        assert!(
            matches!(v.verdict, Verdict::Inconclusive { ref reason } if reason.contains("no data"))
        );
        let v = judge_query(&r, "q", &Ok(Sample::Value { value: f64::NAN }));
        assert!(
            matches!(v.verdict, Verdict::Inconclusive { ref reason } if reason.contains("NaN"))
        );
        assert_eq!(v.value, None);
        let v = judge_query(&r, "q", &Err("connection refused".into()));
        assert!(
            matches!(v.verdict, Verdict::Inconclusive { ref reason } if reason.contains("query failed: connection refused"))
        );
    }

    #[test]
    fn a_number_meets_or_breaks_the_threshold() {
        let r = rule("< 0.05");
        let v = judge_query(&r, "q", &Ok(Sample::Value { value: 0.01 }));
        assert_eq!(v.verdict, Verdict::Pass);
        assert_eq!(v.value, Some(0.01));
        let v = judge_query(&r, "err", &Ok(Sample::Value { value: 0.5 }));
        let Verdict::Fail { reasons } = v.verdict else {
            panic!()
        };
        assert_eq!(
            reasons,
            ["prometheus query = 0.5 breaks \"< 0.05\" (query: err)"]
        );
        let v = judge_query(
            &rule(">= 99"),
            "q",
            &Ok(Sample::Value {
                value: f64::INFINITY,
            }),
        );
        assert_eq!(v.verdict, Verdict::Pass);
    }

    #[test]
    fn the_two_verdicts_combine_failures_first() {
        let fail = |r: &str| Verdict::Fail {
            reasons: vec![r.into()],
        };
        let inc = |r: &str| Verdict::Inconclusive { reason: r.into() };
        assert_eq!(combine(None, inc("x")), inc("x"));
        assert_eq!(combine(Some(Verdict::Pass), Verdict::Pass), Verdict::Pass);
        assert_eq!(combine(Some(Verdict::Pass), inc("q")), inc("q"));
        assert_eq!(combine(Some(inc("r")), Verdict::Pass), inc("r"));
        assert_eq!(combine(Some(inc("r")), fail("q")), fail("q"));
        assert_eq!(combine(Some(fail("r")), Verdict::Pass), fail("r"));
        assert_eq!(
            combine(Some(fail("r")), fail("q")),
            Verdict::Fail {
                reasons: vec!["r".into(), "q".into()]
            }
        );
        assert_eq!(combine(Some(inc("r")), inc("q")), inc("r; q"));
    }
}
