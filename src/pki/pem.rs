//! Finding the PEM blocks (RFC 7468) in a file as operators have them: CRLF line endings, text
//! before, between and after blocks (`openssl x509 -text`, mail clients), indented blocks, and
//! legacy RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`).
//!
//! This module only frames the blocks and remembers where they start; the base64 inside each is
//! decoded by rustls-pki-types (`PemObject`), which treats private key bodies in constant time.

use rustls_pki_types::pem::{PemObject, SectionKind};

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block<'a> {
    /// The label, e.g. `CERTIFICATE` or `EC PRIVATE KEY`.
    pub label: &'a str,
    /// The 1-based line of the BEGIN line, for messages.
    pub line: usize,
    /// The lines between BEGIN and END, as in the file.
    pub body: &'a [u8],
    /// Whether the body starts with RFC 1421 headers saying it is encrypted.
    pub encrypted_header: bool,
}

/// A framing problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// A BEGIN line with no END line before the next BEGIN or the end of the file.
    MissingEnd {
        /// The block's label.
        label: String,
        /// Its BEGIN line.
        line: usize,
    },
    /// An END line whose label is not the BEGIN line's.
    MismatchedEnd {
        /// The BEGIN label.
        label: String,
        /// Its BEGIN line.
        line: usize,
        /// The END label found.
        end: String,
    },
    /// An END line outside any block (the start of the file is missing).
    EndWithoutBegin {
        /// The END label found.
        label: String,
        /// Its line.
        line: usize,
    },
}

/// Whether `input` looks like PEM: it has a BEGIN or END boundary line somewhere.
pub fn looks_like_pem(input: &[u8]) -> bool {
    contains(input, b"-----BEGIN ") || contains(input, b"-----END ")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every block in `input`, in order.
pub fn blocks(input: &[u8]) -> Result<Vec<Block<'_>>, FramingError> {
    let mut found = Vec::new();
    // (label, BEGIN line number, body start offset)
    let mut open: Option<(&str, usize, usize)> = None;
    let mut offset = 0;
    for (index, raw_line) in input.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        let line = trim(raw_line);
        if let Some(label) = boundary(line, b"-----BEGIN ") {
            if let Some((label, line, _)) = open {
                return Err(FramingError::MissingEnd {
                    label: label.to_string(),
                    line,
                });
            }
            open = Some((label, index + 1, offset));
        } else if let Some(end) = boundary(line, b"-----END ") {
            match open.take() {
                Some((label, line, body_start)) if label == end => {
                    let body = &input[body_start..line_start];
                    found.push(Block {
                        label,
                        line,
                        body,
                        encrypted_header: has_encrypted_header(body),
                    });
                }
                Some((label, line, _)) => {
                    return Err(FramingError::MismatchedEnd {
                        label: label.to_string(),
                        line,
                        end: end.to_string(),
                    });
                }
                None => {
                    return Err(FramingError::EndWithoutBegin {
                        label: end.to_string(),
                        line: index + 1,
                    });
                }
            }
        }
    }
    match open {
        Some((label, line, _)) => Err(FramingError::MissingEnd {
            label: label.to_string(),
            line,
        }),
        None => Ok(found),
    }
}

/// The label of a `-----BEGIN LABEL-----` / `-----END LABEL-----` line.
fn boundary<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?;
    let label = rest.strip_suffix(b"-----")?;
    let label = std::str::from_utf8(label).ok()?;
    // RFC 7468 §3: labels are printable ASCII without '-' at either end.
    let printable = label.bytes().all(|b| (0x20..0x7F).contains(&b));
    (printable && !label.starts_with('-') && !label.ends_with('-')).then_some(label)
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// RFC 1421 §4.6.1.1: `Proc-Type: 4,ENCRYPTED` before the base64 (OpenSSL's legacy
/// `-----BEGIN RSA PRIVATE KEY-----` with `DEK-Info:`).
fn has_encrypted_header(body: &[u8]) -> bool {
    body.split(|&b| b == b'\n')
        .map(trim)
        .take_while(|line| line.contains(&b':'))
        .any(|line| line.starts_with(b"Proc-Type:") && contains(line, b"ENCRYPTED"))
}

/// What a block's label says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// `CERTIFICATE` (also the old `X509 CERTIFICATE`).
    Certificate,
    /// `PUBLIC KEY`: an SPKI.
    PublicKey,
    /// `RSA PUBLIC KEY`: a PKCS#1 RSAPublicKey.
    RsaPublicKey,
    /// `PRIVATE KEY`: PKCS#8.
    PrivateKey,
    /// `RSA PRIVATE KEY`: PKCS#1.
    RsaPrivateKey,
    /// `EC PRIVATE KEY`: SEC1.
    EcPrivateKey,
    /// `ENCRYPTED PRIVATE KEY`: PKCS#8 EncryptedPrivateKeyInfo.
    EncryptedPrivateKey,
    /// `CERTIFICATE REQUEST` (also `NEW CERTIFICATE REQUEST`).
    Csr,
    /// Anything else (`X509 CRL`, `EC PARAMETERS`, `DH PARAMETERS`, …): not ours, skipped.
    Other,
}

impl Label {
    /// The meaning of a block's label.
    pub fn of(label: &str) -> Self {
        match label {
            "CERTIFICATE" | "X509 CERTIFICATE" => Self::Certificate,
            "PUBLIC KEY" => Self::PublicKey,
            "RSA PUBLIC KEY" => Self::RsaPublicKey,
            "PRIVATE KEY" => Self::PrivateKey,
            "RSA PRIVATE KEY" => Self::RsaPrivateKey,
            "EC PRIVATE KEY" => Self::EcPrivateKey,
            "ENCRYPTED PRIVATE KEY" => Self::EncryptedPrivateKey,
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Self::Csr,
            _ => Self::Other,
        }
    }

    /// The label rustls-pki-types decodes it under (with the same base64 treatment), if any.
    fn section(self) -> Option<(SectionKind, &'static str)> {
        Some(match self {
            Self::Certificate => (SectionKind::Certificate, "CERTIFICATE"),
            Self::PublicKey | Self::RsaPublicKey => (SectionKind::PublicKey, "PUBLIC KEY"),
            Self::PrivateKey => (SectionKind::PrivateKey, "PRIVATE KEY"),
            Self::RsaPrivateKey => (SectionKind::RsaPrivateKey, "RSA PRIVATE KEY"),
            Self::EcPrivateKey => (SectionKind::EcPrivateKey, "EC PRIVATE KEY"),
            Self::Csr => (SectionKind::Csr, "CERTIFICATE REQUEST"),
            Self::EncryptedPrivateKey | Self::Other => return None,
        })
    }
}

/// The base64 body of a block could not be decoded (nothing more is said: it may be a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBase64;

/// Decodes a block's body to DER with rustls-pki-types, under the label it means.
pub fn decode(block: &Block<'_>, label: Label) -> Result<Vec<u8>, BadBase64> {
    let Some((kind, name)) = label.section() else {
        return Err(BadBase64);
    };
    let mut text = Vec::with_capacity(block.body.len() + 2 * name.len() + 40);
    text.extend_from_slice(b"-----BEGIN ");
    text.extend_from_slice(name.as_bytes());
    text.extend_from_slice(b"-----\n");
    text.extend_from_slice(block.body);
    text.extend_from_slice(b"\n-----END ");
    text.extend_from_slice(name.as_bytes());
    text.extend_from_slice(b"-----\n");
    match <(SectionKind, Vec<u8>)>::from_pem_slice(&text) {
        Ok((decoded_kind, der)) if decoded_kind == kind => Ok(der),
        _ => Err(BadBase64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

    #[test]
    fn frames_blocks_between_text() {
        let input = format!(
            "subject=CN = x\n{CERT}between\r\n{}tail",
            CERT.replace('\n', "\r\n")
        );
        let found = blocks(input.as_bytes()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].label, found[0].line), ("CERTIFICATE", 2));
        assert_eq!(found[1].line, 6);
        for block in &found {
            assert_eq!(
                decode(block, Label::Certificate).unwrap(),
                [0x30, 3, 2, 1, 1]
            );
        }
    }

    #[test]
    fn accepts_indented_blocks() {
        let input =
            "  -----BEGIN CERTIFICATE-----  \n    MAMC\n    AQE=\n  -----END CERTIFICATE-----\n";
        let found = blocks(input.as_bytes()).unwrap();
        assert_eq!(
            decode(&found[0], Label::Certificate).unwrap(),
            [0x30, 3, 2, 1, 1]
        );
    }

    #[test]
    fn reports_framing_errors_with_lines() {
        let truncated = &CERT[..CERT.len() - 27];
        assert_eq!(
            blocks(truncated.as_bytes()),
            Err(FramingError::MissingEnd {
                label: "CERTIFICATE".into(),
                line: 1
            })
        );
        let nested = format!("-----BEGIN PRIVATE KEY-----\nAAAA\n{CERT}");
        assert!(matches!(
            blocks(nested.as_bytes()),
            Err(FramingError::MissingEnd { line: 1, .. })
        ));
        let mismatched = CERT.replace("END CERTIFICATE", "END PUBLIC KEY");
        assert!(matches!(
            blocks(mismatched.as_bytes()),
            Err(FramingError::MismatchedEnd { .. })
        ));
        let headless = "MAMCAQE=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            blocks(headless.as_bytes()),
            Err(FramingError::EndWithoutBegin { line: 2, .. })
        ));
    }

    #[test]
    fn bad_base64_is_reported_without_content() {
        let input = CERT.replace("MAMCAQE=", "MAM*AQE=");
        let found = blocks(input.as_bytes()).unwrap();
        assert_eq!(decode(&found[0], Label::Certificate), Err(BadBase64));
    }

    #[test]
    fn sees_legacy_encryption_headers() {
        let input = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(blocks(input.as_bytes()).unwrap()[0].encrypted_header);
        assert!(!blocks(CERT.as_bytes()).unwrap()[0].encrypted_header);
    }

    #[test]
    fn knows_labels_in_the_wild() {
        assert_eq!(Label::of("NEW CERTIFICATE REQUEST"), Label::Csr);
        assert_eq!(Label::of("X509 CERTIFICATE"), Label::Certificate);
        assert_eq!(Label::of("EC PARAMETERS"), Label::Other);
        assert!(looks_like_pem(CERT.as_bytes()));
        assert!(!looks_like_pem(b"\x30\x03\x02\x01\x01"));
    }
}
