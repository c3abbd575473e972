//! Report fixtures (in `tests/fixtures/tlsrpt/`, shared with the integration tests) and the
//! forms reporters wrap them in: gzip and mail.

use std::io::Write;

pub const RFC8460: &str = include_str!("../../tests/fixtures/tlsrpt/rfc8460.json");
pub const GOOGLE_TLSA: &str = include_str!("../../tests/fixtures/tlsrpt/google-tlsa.json");
pub const MICROSOFT: &str = include_str!("../../tests/fixtures/tlsrpt/microsoft.json");
pub const ODD_REPORTER: &str = include_str!("../../tests/fixtures/tlsrpt/odd-reporter.json");
pub const AFTER_ROLLOVER: &str = include_str!("../../tests/fixtures/tlsrpt/after-rollover.json");
pub const HISTORY: &str = include_str!("../../tests/fixtures/tlsrpt/history-mx.demo.example.jsonl");

pub fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// A report mail as RFC 8460 §5.3 describes it: multipart/report with a text part and the
/// report as `application/tlsrpt+gzip` (or `+json`), base64, named after its report-id.
pub fn mail(organization: &str, report: &str, gzipped: bool) -> Vec<u8> {
    let id = serde_json::from_str::<serde_json::Value>(report).unwrap()["report-id"]
        .as_str()
        .unwrap()
        .to_string();
    let (kind, name, body) = if gzipped {
        (
            "application/tlsrpt+gzip",
            format!("{id}.json.gz"),
            gzip(report),
        )
    } else {
        (
            "application/tlsrpt+json",
            format!("{id}.json"),
            report.as_bytes().to_vec(),
        )
    };
    let encoded = data_encoding::BASE64.encode(&body);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: {organization} <tlsrpt@reporter.example>\r\n\
         To: tlsrpt@demo.example\r\n\
         Subject: Report Domain: demo.example Submitter: reporter.example Report-ID: <{id}>\r\n\
         TLS-Report-Domain: demo.example\r\n\
         TLS-Report-Submitter: reporter.example\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=\"us-ascii\"\r\n\
         \r\n\
         This is an aggregate TLS report from {organization}.\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: {kind}\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         \r\n\
         {}\r\n\
         --b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}
