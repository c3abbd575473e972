//! Finding the reports in what the operator points `daneroll reports` at: JSON files,
//! gzip-compressed JSON (RFC 8460 §5.3: `.json.gz`), mail messages that carry them as
//! `application/tlsrpt+gzip` or `application/tlsrpt+json` (RFC 8460 §5.3, §6.4), maildir
//! directories (`cur/` and `new/`), mbox files, and directories of any of these.
//!
//! A file that is none of these, a mail without a report, or a report that does not parse is
//! counted and named ([`Malformed`]), never fatal. A report whose `report-id` was already read
//! is counted once ([`Ingested::duplicates`]). Sizes are bounded: a decompressed report larger
//! than [`MAX_REPORT`] is malformed (a gzip bomb cannot exhaust memory).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;

use super::schema::{self, Report};

/// The largest report read, decompressed (large reporters' daily reports are a few KiB).
pub const MAX_REPORT: u64 = 16 * 1024 * 1024;

/// How deep directories are followed (a maildir of folders is two levels).
const MAX_DEPTH: usize = 8;

/// A report and where it came from.
#[derive(Clone, Debug)]
pub struct Sourced {
    /// The file, or `FILE (message N)` for an mbox, plus `: PART` for an attachment.
    pub source: String,
    /// The report.
    pub report: Report,
}

/// Something that should have been a report and is not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// The file (and message or attachment).
    pub source: String,
    /// What is wrong with it.
    pub error: String,
}

/// Everything read from the paths.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Each report once, in the order found.
    pub reports: Vec<Sourced>,
    /// Reports skipped because their `report-id` was already read.
    pub duplicates: usize,
    /// What could not be read.
    pub malformed: Vec<Malformed>,
    report_ids: BTreeSet<String>,
}

impl Ingested {
    /// Reads every path (files and directories, recursively).
    pub fn read(paths: &[PathBuf]) -> Self {
        let mut ingested = Self::default();
        for path in paths {
            ingested.path(path, 0);
        }
        ingested
    }

    fn bad(&mut self, source: impl Into<String>, error: impl Into<String>) {
        self.malformed.push(Malformed {
            source: source.into(),
            error: error.into(),
        });
    }

    fn path(&mut self, path: &Path, depth: usize) {
        let shown = path.display().to_string();
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => return self.bad(shown, format!("cannot read: {e}")),
        };
        if meta.is_dir() {
            if depth >= MAX_DEPTH {
                return self.bad(shown, format!("nested deeper than {MAX_DEPTH} directories"));
            }
            let mut entries: Vec<PathBuf> = match fs::read_dir(path) {
                Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => return self.bad(shown, format!("cannot list: {e}")),
            };
            // Sorted: the same directory always reads in the same order (and the first of two
            // duplicates is the one kept).
            entries.sort();
            for entry in entries {
                let hidden = entry
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                // Maildir's tmp/ holds messages still being delivered.
                let maildir_tmp = entry.file_name().is_some_and(|n| n == "tmp")
                    && path.join("cur").is_dir()
                    && path.join("new").is_dir();
                if !hidden && !maildir_tmp {
                    self.path(&entry, depth + 1);
                }
            }
            return;
        }
        match read_bounded(path) {
            Ok(bytes) => self.bytes(&shown, &bytes),
            Err(e) => self.bad(shown, e),
        }
    }

    /// Classifies one file's bytes by content, not by name.
    fn bytes(&mut self, source: &str, bytes: &[u8]) {
        if bytes.starts_with(&GZIP_MAGIC) {
            return match gunzip(bytes) {
                Ok(json) => self.json(source, &json),
                Err(e) => self.bad(source, e),
            };
        }
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(&[][..], |i| &bytes[i..]);
        if start.starts_with(b"{") {
            return self.json(source, bytes);
        }
        if start.starts_with(b"From ") {
            return self.mbox(source, bytes);
        }
        self.mail(source, bytes);
    }

    fn json(&mut self, source: &str, bytes: &[u8]) {
        match schema::parse(bytes) {
            Ok(report) => {
                if self.report_ids.insert(report.report_id.clone()) {
                    self.reports.push(Sourced {
                        source: source.to_string(),
                        report,
                    });
                } else {
                    self.duplicates += 1;
                }
            }
            Err(e) => self.bad(source, format!("not a TLS report: {e}")),
        }
    }

    fn mbox(&mut self, source: &str, bytes: &[u8]) {
        let messages = mail_parser::mailbox::mbox::MessageIterator::new(bytes);
        for (index, message) in messages.enumerate() {
            let name = format!("{source} (message {})", index + 1);
            match message {
                Ok(message) => self.mail(&name, message.contents()),
                Err(e) => self.bad(name, format!("cannot read the mbox: {e}")),
            }
        }
    }

    /// A mail message: every part whose type says TLS report (RFC 8460 §5.3), or a gzip or JSON
    /// attachment named like one (some reporters send `application/gzip`).
    fn mail(&mut self, source: &str, bytes: &[u8]) {
        let message = match MessageParser::default().parse(bytes) {
            Some(message) if starts_with_header(bytes) => message,
            _ => {
                return self.bad(
                    source,
                    "neither a TLS report (JSON or gzip) nor a mail message",
                );
            }
        };
        let mut found = 0;
        for part in &message.parts {
            let Some(kind) = part.content_type() else {
                continue;
            };
            let mime = format!(
                "{}/{}",
                kind.ctype().to_ascii_lowercase(),
                kind.subtype().unwrap_or("").to_ascii_lowercase()
            );
            let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
            let gzip = mime == "application/tlsrpt+gzip"
                || ((mime == "application/gzip" || mime == "application/octet-stream")
                    && name.ends_with(".json.gz"));
            let json = mime == "application/tlsrpt+json"
                || (mime == "application/json" && name.ends_with(".json"));
            if !gzip && !json {
                continue;
            }
            found += 1;
            let part_source = match part.attachment_name() {
                Some(name) => format!("{source}: {name}"),
                None => format!("{source}: {mime}"),
            };
            let contents = part.contents();
            if contents.len() as u64 > MAX_REPORT {
                self.bad(part_source, format!("larger than {MAX_REPORT} bytes"));
            } else if gzip {
                match gunzip(contents) {
                    Ok(json) => self.json(&part_source, &json),
                    Err(e) => self.bad(part_source, e),
                }
            } else {
                self.json(&part_source, contents);
            }
        }
        if found == 0 {
            self.bad(
                source,
                "a mail message without a TLS report (no application/tlsrpt+gzip or +json part)",
            );
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether the first line is a header field (RFC 5322 §2.2: printable ASCII but `:`, then `:`).
fn starts_with_header(bytes: &[u8]) -> bool {
    let name_len = bytes
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && b != b':')
        .count();
    name_len > 0 && bytes.get(name_len) == Some(&b':')
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_REPORT {
        return Err(format!("larger than {MAX_REPORT} bytes"));
    }
    Ok(bytes)
}

/// Decompresses at most [`MAX_REPORT`] bytes.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_REPORT + 1)
        .read_to_end(&mut out)
        .map_err(|e: io::Error| format!("not valid gzip: {e}"))?;
    if out.len() as u64 > MAX_REPORT {
        return Err(format!("decompresses to more than {MAX_REPORT} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::fixtures;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn every_form_is_read_and_duplicates_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "plain/rfc.json", fixtures::RFC8460.as_bytes());
        write(
            d,
            "plain/google.json.gz",
            &fixtures::gzip(fixtures::GOOGLE_TLSA),
        );
        // The same report again, as mail: a duplicate.
        write(
            d,
            "mail/google.eml",
            &fixtures::mail("Google", fixtures::GOOGLE_TLSA, true),
        );
        // Maildir with one message in new/ and one still in tmp/ (not read).
        write(
            d,
            "Maildir/new/1.host",
            &fixtures::mail("Microsoft", fixtures::MICROSOFT, false),
        );
        write(d, "Maildir/cur/.keep", b"");
        write(d, "Maildir/tmp/2.host", b"half written");
        // An mbox with two messages, one of them without a report.
        let mut mbox = b"From reports@example.net Thu Dec  3 10:00:00 2026\n".to_vec();
        mbox.extend(fixtures::mail(
            "Example Mailer",
            fixtures::ODD_REPORTER,
            true,
        ));
        mbox.extend(b"\nFrom someone@example.net Thu Dec  3 11:00:00 2026\n");
        mbox.extend(b"From: someone@example.net\nSubject: hello\n\nJust a note.\n");
        write(d, "reports.mbox", &mbox);
        write(d, "junk.txt", b"\x00\x01 not a report");
        write(d, "broken.json", b"{\"organization-name\": \"X\"");

        let ingested = Ingested::read(&[d.to_path_buf()]);
        let ids: Vec<&str> = ingested
            .reports
            .iter()
            .map(|r| r.report.report_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "134091072000000000+demo.example",
                "2026-11-28T00:00:00Z_demo.example",
                "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
                "em-20261129-demo.example",
            ]
        );
        assert_eq!(ingested.duplicates, 1);
        let bad: Vec<String> = ingested
            .malformed
            .iter()
            .map(|m| {
                let file = m.source.strip_prefix(&format!("{}/", d.display())).unwrap();
                format!("{file} | {}", m.error)
            })
            .collect();
        assert_eq!(bad.len(), 3, "{bad:#?}");
        assert!(
            bad[0].starts_with("broken.json | not a TLS report: not JSON"),
            "{bad:#?}"
        );
        assert_eq!(
            bad[1],
            "junk.txt | neither a TLS report (JSON or gzip) nor a mail message"
        );
        assert_eq!(
            bad[2],
            "reports.mbox (message 2) | a mail message without a TLS report (no application/tlsrpt+gzip or +json part)"
        );
        assert!(
            ingested.reports[3]
                .source
                .ends_with("reports.mbox (message 1): em-20261129-demo.example.json.gz")
        );
    }

    #[test]
    fn a_gzip_bomb_is_malformed_not_fatal() {
        let zeros = vec![b' '; (MAX_REPORT + 10) as usize];
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 100_000);
        let mut ingested = Ingested::default();
        ingested.bytes("bomb.json.gz", &bomb);
        assert_eq!(
            ingested.malformed,
            [Malformed {
                source: "bomb.json.gz".into(),
                error: format!("decompresses to more than {MAX_REPORT} bytes"),
            }]
        );
    }
}
