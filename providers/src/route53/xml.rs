//! Route 53's XML documents (API version 2013-04-01), as far as daneroll reads and writes them.
//!
//! - <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZones.html>
//! - <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html>
//! - <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>
//! - <https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html>
//! - <https://docs.aws.amazon.com/Route53/latest/APIReference/CommonErrors.html> (the
//!   `ErrorResponse` body) and the `InvalidChangeBatch` body of `ChangeResourceRecordSets`.

use serde::Deserialize;

/// `ListHostedZonesResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostedZonesPage {
    #[serde(default)]
    pub hosted_zones: HostedZones,
    #[serde(default)]
    pub is_truncated: bool,
    pub next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct HostedZones {
    #[serde(rename = "HostedZone", default)]
    pub zones: Vec<HostedZone>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HostedZone {
    /// `/hostedzone/Z1D633PJN98FT9`.
    pub id: String,
    /// Absolute: `example.com.`.
    pub name: String,
    pub config: Option<ZoneConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ZoneConfig {
    #[serde(default)]
    pub private_zone: bool,
}

/// `ListResourceRecordSetsResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RecordSetsPage {
    #[serde(default)]
    pub resource_record_sets: RecordSets,
    #[serde(default)]
    pub is_truncated: bool,
    pub next_record_name: Option<String>,
    pub next_record_type: Option<String>,
    pub next_record_identifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RecordSets {
    #[serde(rename = "ResourceRecordSet", default)]
    pub sets: Vec<RecordSet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RecordSet {
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "TTL")]
    pub ttl: Option<u32>,
    pub set_identifier: Option<String>,
    #[serde(default)]
    pub resource_records: ResourceRecords,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ResourceRecords {
    #[serde(rename = "ResourceRecord", default)]
    pub records: Vec<ResourceRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ResourceRecord {
    pub value: String,
}

/// `ChangeResourceRecordSetsResponse` and `GetChangeResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ChangeInfoDoc {
    pub change_info: ChangeInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ChangeInfo {
    /// `/change/C2682N5HXP0BZ4`.
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvalidChangeBatch {
    messages: Messages,
}

#[derive(Debug, Deserialize)]
struct Messages {
    #[serde(rename = "Message", default)]
    message: Vec<String>,
}

/// An error body as `{"Code": …, "Message": …}`: `<ErrorResponse><Error><Code>…` or
/// `<InvalidChangeBatch><Messages><Message>…` (code `InvalidChangeBatch`).
pub(super) fn error_json(body: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.trim_start().starts_with('<') {
        return None;
    }
    if let Ok(doc) = quick_xml::de::from_str::<ErrorResponse>(text) {
        return Some(serde_json::json!({ "Code": doc.error.code, "Message": doc.error.message }));
    }
    let batch = quick_xml::de::from_str::<InvalidChangeBatch>(text).ok()?;
    Some(serde_json::json!({
        "Code": "InvalidChangeBatch",
        "Message": batch.messages.message.join("; "),
    }))
}

/// One change of a batch: `CREATE` or `DELETE` of a whole TLSA record set.
pub(super) struct Change<'a> {
    pub action: &'static str,
    pub name: &'a str,
    pub ttl: u32,
    pub values: &'a [String],
}

/// A `ChangeResourceRecordSetsRequest` applying `changes` in order, atomically.
pub(super) fn change_batch(changes: &[Change<'_>]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest \
         xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch>\
         <Comment>daneroll</Comment><Changes>",
    );
    for change in changes {
        xml.push_str(&format!(
            "<Change><Action>{}</Action><ResourceRecordSet><Name>{}</Name><Type>TLSA</Type>\
             <TTL>{}</TTL><ResourceRecords>",
            change.action,
            escape(change.name),
            change.ttl
        ));
        for value in change.values {
            xml.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                escape(value)
            ));
        }
        xml.push_str("</ResourceRecords></ResourceRecordSet></Change>");
    }
    xml.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    xml
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// A domain name as Route 53 returns it (`\052` for `*`, other octal escapes, RFC 1035 §5.1)
/// in lower case, absolute.
pub(super) fn unescape_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("0");
            if let Ok(byte) = u8::from_str_radix(digits, 8) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let name = String::from_utf8_lossy(&out).to_ascii_lowercase();
    format!("{}.", name.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_error_bodies_become_code_and_message() {
        let throttled = br#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>a1b2</RequestId>
</ErrorResponse>"#;
        let json = error_json(throttled).unwrap();
        assert_eq!(json["Code"], "Throttling");
        assert_eq!(json["Message"], "Rate exceeded");
        let batch = br#"<?xml version="1.0" encoding="UTF-8"?>
<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <Messages><Message>Tried to delete resource record set [name='a.example.com.', type='TLSA'] but it was not found</Message></Messages>
  <RequestId>b2c3</RequestId>
</InvalidChangeBatch>"#;
        let json = error_json(batch).unwrap();
        assert_eq!(json["Code"], "InvalidChangeBatch");
        assert!(json["Message"].as_str().unwrap().contains("not found"));
        assert!(error_json(b"{\"x\":1}").is_none());
    }

    #[test]
    fn names_are_unescaped() {
        assert_eq!(
            unescape_name("\\052._tcp.Example.com."),
            "*._tcp.example.com."
        );
        assert_eq!(
            unescape_name("_25._tcp.mx.example.com"),
            "_25._tcp.mx.example.com."
        );
    }

    #[test]
    fn a_batch_deletes_then_creates() {
        let old = ["3 1 1 aa".to_string()];
        let new = ["3 1 1 aa".to_string(), "3 1 1 bb".to_string()];
        let xml = change_batch(&[
            Change {
                action: "DELETE",
                name: "_25._tcp.mx.example.com.",
                ttl: 300,
                values: &old,
            },
            Change {
                action: "CREATE",
                name: "_25._tcp.mx.example.com.",
                ttl: 300,
                values: &new,
            },
        ]);
        let delete = xml.find("<Action>DELETE</Action>").unwrap();
        let create = xml.find("<Action>CREATE</Action>").unwrap();
        assert!(delete < create, "{xml}");
        assert_eq!(xml.matches("<ResourceRecord>").count(), 3);
    }
}
