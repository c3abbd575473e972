//! One TLS report (RFC 8460 §4.4) read from its JSON text, tolerant of the ways large reporters
//! are known to depart from the schema, strict about what a summary cannot do without.
//!
//! Required here: `organization-name`, `report-id`, `date-range` (`start-datetime`,
//! `end-datetime`) and, per policy, `policy-type`, `policy-domain` and the two summary counts.
//! Tolerated, because reporters send them: `mx-host` as one string instead of a list (RFC
//! 8460's own example uses a list), `failure-details` or `policy-string` absent or `null`,
//! counts as numeric strings, date-times without a time-zone designator (read as UTC) or with
//! fractional seconds, `contact-info` absent, unknown fields (ignored; RFC 8460 §4.4 lets
//! reporters add them), and `result-type` values the RFC does not list (kept as given).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Why a report cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// A required field is missing or has the wrong type.
    #[error("{field}: {problem}")]
    Field {
        /// The JSON path, e.g. `policies[0].summary.total-failure-session-count`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// `policy-type` (RFC 8460 §4.4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// DANE (RFC 7672).
    Tlsa,
    /// MTA-STS (RFC 8461).
    Sts,
    /// Neither policy found.
    NoPolicyFound,
    /// A value the RFC does not define, as sent.
    Other(String),
}

impl PolicyType {
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "tlsa" => PolicyType::Tlsa,
            "sts" => PolicyType::Sts,
            "no-policy-found" => PolicyType::NoPolicyFound,
            _ => PolicyType::Other(text.to_string()),
        }
    }

    /// The word RFC 8460 uses.
    pub fn word(&self) -> &str {
        match self {
            PolicyType::Tlsa => "tlsa",
            PolicyType::Sts => "sts",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other(text) => text,
        }
    }
}

/// One report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `organization-name`: who sent it.
    pub organization: String,
    /// `report-id`: duplicates share it.
    pub report_id: String,
    /// `contact-info`, if given.
    pub contact: Option<String>,
    /// `date-range.start-datetime`.
    pub start: OffsetDateTime,
    /// `date-range.end-datetime`.
    pub end: OffsetDateTime,
    /// One entry per policy the reporter applied.
    pub policies: Vec<PolicyResult>,
}

/// The sessions of one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyResult {
    /// `policy-type`.
    pub policy_type: PolicyType,
    /// `policy-domain`, lower case, no trailing dot.
    pub domain: String,
    /// `mx-host` patterns or names, lower case, no trailing dot.
    pub mx_hosts: Vec<String>,
    /// `policy-string`: for `tlsa`, the TLSA records the sender saw.
    pub policy_strings: Vec<String>,
    /// `summary.total-successful-session-count`.
    pub successful: u64,
    /// `summary.total-failure-session-count`.
    pub failed: u64,
    /// `failure-details`.
    pub failures: Vec<FailureDetail>,
}

/// One line of `failure-details`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureDetail {
    /// `result-type`, e.g. `tlsa-invalid`.
    pub result_type: String,
    /// `failed-session-count`.
    pub count: u64,
    /// `receiving-mx-hostname`, lower case, no trailing dot.
    pub mx_host: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `sending-mta-ip`.
    pub sending_ip: Option<String>,
    /// `failure-reason-code` or `additional-information`.
    pub reason: Option<String>,
}

/// Parses one report's JSON text.
pub fn parse(text: &[u8]) -> Result<Report, SchemaError> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| SchemaError::NotJson(e.to_string()))?;
    let root = Node {
        path: String::new(),
        value: &value,
    };
    root.object()?;
    let range = root.field("date-range")?;
    let policies = root
        .field("policies")?
        .list()?
        .into_iter()
        .map(|policy| policy_result(&policy))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        organization: root.field("organization-name")?.text()?,
        report_id: root.field("report-id")?.text()?,
        contact: root.optional("contact-info").and_then(|n| n.text().ok()),
        start: range.field("start-datetime")?.datetime()?,
        end: range.field("end-datetime")?.datetime()?,
        policies,
    })
}

fn policy_result(node: &Node<'_>) -> Result<PolicyResult, SchemaError> {
    let policy = node.field("policy")?;
    let summary = node.field("summary")?;
    let mx_hosts = match policy.optional("mx-host") {
        None => Vec::new(),
        Some(hosts) => hosts.texts()?.iter().map(|h| host_name(h)).collect(),
    };
    let policy_strings = match policy.optional("policy-string") {
        None => Vec::new(),
        Some(strings) => strings.texts()?,
    };
    let failures = match node.optional("failure-details") {
        None => Vec::new(),
        Some(list) => list
            .list()?
            .iter()
            .map(failure_detail)
            .collect::<Result<_, _>>()?,
    };
    Ok(PolicyResult {
        policy_type: PolicyType::parse(&policy.field("policy-type")?.text()?),
        domain: host_name(&policy.field("policy-domain")?.text()?),
        mx_hosts,
        policy_strings,
        successful: summary.field("total-successful-session-count")?.count()?,
        failed: summary.field("total-failure-session-count")?.count()?,
        failures,
    })
}

fn failure_detail(node: &Node<'_>) -> Result<FailureDetail, SchemaError> {
    let text = |name: &str| node.optional(name).and_then(|n| n.text().ok());
    Ok(FailureDetail {
        result_type: node.field("result-type")?.text()?.to_ascii_lowercase(),
        count: node.field("failed-session-count")?.count()?,
        mx_host: text("receiving-mx-hostname").map(|h| host_name(&h)),
        receiving_ip: text("receiving-ip"),
        sending_ip: text("sending-mta-ip"),
        reason: text("failure-reason-code").or_else(|| text("additional-information")),
    })
}

/// A host name as reports are compared: lower case, no trailing dot.
fn host_name(text: &str) -> String {
    text.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A JSON value and the path that leads to it (for errors).
struct Node<'a> {
    path: String,
    value: &'a Value,
}

impl<'a> Node<'a> {
    fn error(&self, problem: impl Into<String>) -> SchemaError {
        SchemaError::Field {
            field: if self.path.is_empty() {
                "(top level)".into()
            } else {
                self.path.clone()
            },
            problem: problem.into(),
        }
    }

    fn object(&self) -> Result<&'a serde_json::Map<String, Value>, SchemaError> {
        self.value
            .as_object()
            .ok_or_else(|| self.error(format!("expected an object, found {}", kind(self.value))))
    }

    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A required member.
    fn field(&self, name: &str) -> Result<Node<'a>, SchemaError> {
        match self.object()?.get(name) {
            Some(Value::Null) | None => Err(SchemaError::Field {
                field: self.child(name),
                problem: "missing".into(),
            }),
            Some(value) => Ok(Node {
                path: self.child(name),
                value,
            }),
        }
    }

    /// An optional member (`null` counts as absent).
    fn optional(&self, name: &str) -> Option<Node<'a>> {
        match self.value.as_object()?.get(name)? {
            Value::Null => None,
            value => Some(Node {
                path: self.child(name),
                value,
            }),
        }
    }

    fn list(&self) -> Result<Vec<Node<'a>>, SchemaError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.error(format!("expected a list, found {}", kind(self.value))))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                path: format!("{}[{i}]", self.path),
                value,
            })
            .collect())
    }

    fn text(&self) -> Result<String, SchemaError> {
        self.value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error(format!("expected a string, found {}", kind(self.value))))
    }

    /// A list of strings, or one string (reporters send `mx-host` both ways).
    fn texts(&self) -> Result<Vec<String>, SchemaError> {
        match self.value {
            Value::String(text) => Ok(vec![text.clone()]),
            Value::Array(_) => self.list()?.iter().map(Node::text).collect(),
            other => Err(self.error(format!(
                "expected a string or a list of strings, found {}",
                kind(other)
            ))),
        }
    }

    /// A non-negative session count (a number, or a numeric string).
    fn count(&self) -> Result<u64, SchemaError> {
        match self.value {
            Value::Number(n) => n.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.error(format!("expected a session count, found {}", self.value)))
    }

    /// RFC 3339 (RFC 8460 §4.4), or without an offset (read as UTC).
    fn datetime(&self) -> Result<OffsetDateTime, SchemaError> {
        let text = self.text()?;
        let text = text.trim();
        if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
            return Ok(at);
        }
        let format = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        PrimitiveDateTime::parse(text, &format)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| self.error(format!("{text:?} is not an RFC 3339 date-time")))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::fixtures;

    #[test]
    fn rfc_8460_example_parses() {
        let report = parse(fixtures::RFC8460.as_bytes()).unwrap();
        assert_eq!(report.organization, "Company-X");
        assert_eq!(report.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
        assert_eq!(
            report.contact.as_deref(),
            Some("sts-reporting@company-x.example")
        );
        assert_eq!(report.start.to_string(), "2016-04-01 0:00:00.0 +00:00:00");
        assert_eq!(report.policies.len(), 1);
        let policy = &report.policies[0];
        assert_eq!(policy.policy_type, PolicyType::Sts);
        assert_eq!(policy.domain, "company-y.example");
        assert_eq!(policy.mx_hosts, ["*.mail.company-y.example"]);
        assert_eq!((policy.successful, policy.failed), (5326, 303));
        assert_eq!(policy.failures.len(), 3);
        assert_eq!(policy.failures[0].result_type, "certificate-expired");
        assert_eq!(policy.failures[0].count, 100);
        assert_eq!(
            policy.failures[0].mx_host.as_deref(),
            Some("mx1.mail.company-y.example")
        );
        assert_eq!(
            policy.failures[2].reason.as_deref(),
            Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
        );
    }

    #[test]
    fn reporter_variants_parse() {
        // Google: a list of mx-host names, TLSA records as policy-string, no failure-details
        // when nothing failed.
        let google = parse(fixtures::GOOGLE_TLSA.as_bytes()).unwrap();
        assert_eq!(google.organization, "Google Inc.");
        assert_eq!(google.policies[0].policy_type, PolicyType::Tlsa);
        assert_eq!(google.policies[0].mx_hosts, ["mx.demo.example"]);
        assert!(google.policies[0].failures.is_empty());
        assert_eq!(google.policies[0].policy_strings.len(), 2);
        // Microsoft: mx-host as one string, failure-details null, no contact-info, date-times
        // with seven fractional digits.
        let microsoft = parse(fixtures::MICROSOFT.as_bytes()).unwrap();
        assert_eq!(microsoft.policies[0].mx_hosts, ["mx.demo.example"]);
        assert_eq!(microsoft.policies[0].failures[0].count, 12);
        assert_eq!(microsoft.policies[1].policy_type, PolicyType::Sts);
        assert_eq!(microsoft.policies[1].mx_hosts, ["*.demo.example"]);
        assert!(microsoft.policies[1].failures.is_empty());
        assert_eq!(microsoft.contact, None);
        assert_eq!(microsoft.end.nanosecond(), 999_999_900);
        // A reporter with counts as strings, no time zone, and a result type not in the RFC.
        let odd = parse(fixtures::ODD_REPORTER.as_bytes()).unwrap();
        assert_eq!(odd.policies[0].failed, 7);
        assert_eq!(odd.policies[0].failures[0].result_type, "tlsa-invalid");
        assert_eq!(
            odd.policies[0].failures[1].result_type,
            "starttls-not-supported"
        );
        assert_eq!(odd.start.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn malformed_reports_name_the_field() {
        let error = parse(b"{\"organization-name\": 3}").unwrap_err();
        assert_eq!(error.to_string(), "date-range: missing");
        let error = parse(b"[1, 2]").unwrap_err();
        assert_eq!(
            error.to_string(),
            "(top level): expected an object, found a list"
        );
        let error = parse(b"not json").unwrap_err();
        assert!(matches!(error, SchemaError::NotJson(_)));
        let text = fixtures::RFC8460.replace(
            "\"total-failure-session-count\": 303",
            "\"total-failure-session-count\": -1",
        );
        let error = parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "policies[0].summary.total-failure-session-count: expected a session count, found -1"
        );
        let text = fixtures::RFC8460.replace("\"report-id\"", "\"report_id\"");
        assert_eq!(
            parse(text.as_bytes()).unwrap_err().to_string(),
            "report-id: missing"
        );
        let text = fixtures::RFC8460.replace("2016-04-01T00:00:00Z", "yesterday");
        assert_eq!(
            parse(text.as_bytes()).unwrap_err().to_string(),
            "date-range.start-datetime: \"yesterday\" is not an RFC 3339 date-time"
        );
    }
}
