//! The TXT records and the policy text, parsed without I/O: `_mta-sts.DOMAIN` (RFC 8461 §3.1),
//! the policy file (§3.2), MX pattern matching (§4.1) and `_smtp._tls.DOMAIN` (RFC 8460 §3).

use serde::Serialize;

/// `v=STSv1; id=…` at `_mta-sts.DOMAIN`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StsRecord {
    /// 1–32 letters and digits; senders refetch the policy when it changes.
    pub id: String,
}

/// `v=TLSRPTv1; rua=…` at `_smtp._tls.DOMAIN`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsRptRecord {
    /// Where reports go: `mailto:` or `https:` URIs.
    pub rua: Vec<String>,
}

/// What a TXT RRset says: no record of the kind, one, or something senders reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txt<T> {
    /// No TXT record starts with the version tag.
    Absent,
    /// Exactly one valid record.
    Valid(T),
    /// Several records, or one that does not parse (RFC 8461 §3.1, RFC 8460 §3: senders
    /// then act as if there were none).
    Invalid(String),
}

/// `key=value` fields separated by `;` (whitespace around them allowed).
fn fields(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (f.to_string(), String::new()),
        })
        .collect()
}

/// Only records that begin with the version field count (RFC 8461 §3.1: "Records that do not
/// begin with `v=STSv1;` are discarded").
fn select<'a>(texts: &'a [String], version: &str) -> Result<Option<&'a String>, String> {
    let matching: Vec<&String> = texts
        .iter()
        .filter(|t| {
            t.trim_start().strip_prefix(version).is_some_and(|rest| {
                rest.trim_start().is_empty() || rest.trim_start().starts_with(';')
            })
        })
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        more => Err(format!(
            "{} records begin with {version:?}: senders treat that as no record",
            more.len()
        )),
    }
}

/// Parses the TXT strings at `_mta-sts.DOMAIN`.
pub fn sts_record(texts: &[String]) -> Txt<StsRecord> {
    let text = match select(texts, "v=STSv1") {
        Ok(None) => return Txt::Absent,
        Ok(Some(text)) => text,
        Err(why) => return Txt::Invalid(why),
    };
    let id = fields(text)
        .into_iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v);
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 32
                && id.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Txt::Valid(StsRecord { id })
        }
        Some(id) => Txt::Invalid(format!(
            "id={id:?} is not 1 to 32 letters and digits (RFC 8461 §3.1)"
        )),
        None => Txt::Invalid("no id= field (RFC 8461 §3.1)".into()),
    }
}

/// Parses the TXT strings at `_smtp._tls.DOMAIN`.
pub fn tlsrpt_record(texts: &[String]) -> Txt<TlsRptRecord> {
    let text = match select(texts, "v=TLSRPTv1") {
        Ok(None) => return Txt::Absent,
        Ok(Some(text)) => text,
        Err(why) => return Txt::Invalid(why),
    };
    let Some((_, rua)) = fields(text).into_iter().find(|(k, _)| k == "rua") else {
        return Txt::Invalid("no rua= field (RFC 8460 §3)".into());
    };
    let rua: Vec<String> = rua
        .split(',')
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let bad: Vec<&String> = rua
        .iter()
        .filter(|u| {
            let lower = u.to_ascii_lowercase();
            let mailto = lower.starts_with("mailto:") && u.contains('@');
            !(mailto || lower.starts_with("https://"))
        })
        .collect();
    if rua.is_empty() || !bad.is_empty() {
        return Txt::Invalid(format!(
            "rua= needs mailto: or https: URIs (RFC 8460 §3), found {rua:?}"
        ));
    }
    Txt::Valid(TlsRptRecord { rua })
}

/// `mode` (RFC 8461 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Senders refuse MX hosts that fail validation.
    Enforce,
    /// Senders deliver anyway and report failures (TLS-RPT).
    Testing,
    /// The policy is withdrawn.
    None,
}

/// The policy file (RFC 8461 §3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub mode: Mode,
    /// `mx` patterns: `mail.example.com` or `*.example.com`, lower case.
    pub mx: Vec<String>,
    /// `max_age` in seconds (at most 31557600).
    pub max_age: u64,
}

/// The largest `max_age` (RFC 8461 §3.2: one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// Parses the policy text; the error says which line or field is wrong.
pub fn policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age) = (None, None, None);
    let mut mx = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!(
                "line {}: {line:?} is not \"key: value\"",
                index + 1
            ));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => {
                        return Err(format!(
                            "mode: {other:?} (expected enforce, testing or none)"
                        ));
                    }
                });
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            "max_age" => {
                let age: u64 = value
                    .parse()
                    .ok()
                    .filter(|age| *age <= MAX_AGE_LIMIT)
                    .ok_or_else(|| {
                        format!(
                            "max_age: {value:?} is not a number of seconds up to {MAX_AGE_LIMIT}"
                        )
                    })?;
                max_age = Some(age);
            }
            // RFC 8461 §3.2: unknown fields are ignored.
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no \"version: STSv1\" line".into());
    }
    let mode = mode.ok_or("no mode line")?;
    let max_age = max_age.ok_or("no max_age line")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("no mx line (required unless mode is none)".into());
    }
    Ok(Policy { mode, mx, max_age })
}

impl Policy {
    /// Whether `host` matches one of the `mx` patterns (RFC 8461 §4.1: a leading `*.` matches
    /// exactly one label).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sts_records() {
        assert_eq!(
            sts_record(&texts(&["v=STSv1; id=20160831085700Z;"])),
            Txt::Valid(StsRecord {
                id: "20160831085700Z".into()
            })
        );
        assert_eq!(sts_record(&texts(&["v=spf1 -all"])), Txt::Absent);
        assert!(matches!(
            sts_record(&texts(&["v=STSv1; id=a", "v=STSv1; id=b"])),
            Txt::Invalid(why) if why.starts_with("2 records")
        ));
        assert!(matches!(
            sts_record(&texts(&["v=STSv1; id=not-ok"])),
            Txt::Invalid(_)
        ));
        assert!(matches!(sts_record(&texts(&["v=STSv1;"])), Txt::Invalid(_)));
        assert_eq!(sts_record(&texts(&["v=STSv10; id=x"])), Txt::Absent);
    }

    #[test]
    fn tlsrpt_records() {
        assert_eq!(
            tlsrpt_record(&texts(&[
                "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1"
            ])),
            Txt::Valid(TlsRptRecord {
                rua: vec![
                    "mailto:tlsrpt@example.com".into(),
                    "https://reports.example.com/v1".into()
                ]
            })
        );
        assert_eq!(tlsrpt_record(&[]), Txt::Absent);
        assert!(matches!(
            tlsrpt_record(&texts(&["v=TLSRPTv1;"])),
            Txt::Invalid(_)
        ));
        assert!(matches!(
            tlsrpt_record(&texts(&["v=TLSRPTv1; rua=ftp://x"])),
            Txt::Invalid(_)
        ));
    }

    #[test]
    fn policies_and_patterns() {
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n\
                    max_age: 604800\r\nextension: ignored\r\n";
        let p = policy(text).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert!(p.covers("MAIL.example.com."));
        assert!(p.covers("mx1.example.net"));
        assert!(!p.covers("a.b.example.net"), "a wildcard matches one label");
        assert!(!p.covers("example.net"));
        assert!(!p.covers("mail2.example.com"));
        assert_eq!(
            policy("version: STSv1\nmode: enforce\nmax_age: 86400\n").unwrap_err(),
            "no mx line (required unless mode is none)"
        );
        assert!(policy("version: STSv1\nmode: none\nmax_age: 86400\n").is_ok());
        assert!(policy("mode: testing\nmx: a.example\nmax_age: 1\n").is_err());
        assert!(policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(policy("version: STSv1\nmode: testing\nmx: a\nmax_age: 99999999\n").is_err());
        assert!(policy("<html>").is_err());
    }
}
