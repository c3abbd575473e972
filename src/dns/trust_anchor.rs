//! Trust anchors: where the chain of trust starts (RFC 4033 §2, RFC 4035 §4.4).
//!
//! By default daneroll trusts the root zone's KSKs as IANA publishes them (root-anchors.xml;
//! Debian ships the same DS lines in `dns-root-data`'s `root.ds`). A `trust_anchor_file` replaces
//! them for private trees and tests: DS or DNSKEY lines in zone-file syntax, the format of
//! unbound's `auto-trust-anchor-file`/`trust-anchor-file` and of `/usr/share/dns/root.{ds,key}`.
//! An anchor may sit at any name, not only the root; the chain walk starts at the deepest anchor
//! above the zone it checks.

use std::fmt;
use std::path::{Path, PathBuf};

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, PublicKeyBuf};
use hickory_proto::rr::Name;

/// The root KSK DS records (IANA root-anchors.xml): KSK-2017 and KSK-2024.
const ROOT_DS: [(u16, u8, u8, &str); 2] = [
    (
        20326,
        8,
        2,
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ),
    (
        38696,
        8,
        2,
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    ),
];

/// One trusted statement about a zone's keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A DS record: trust the DNSKEY whose digest it is.
    Ds { owner: Name, ds: DS },
    /// A DNSKEY record: trust this key itself.
    Dnskey { owner: Name, key: DNSKEY },
}

impl Anchor {
    /// The zone this anchor is for.
    pub fn owner(&self) -> &Name {
        match self {
            Self::Ds { owner, .. } | Self::Dnskey { owner, .. } => owner,
        }
    }

    /// Whether this anchor vouches for `key`, a DNSKEY of zone `owner`.
    pub fn trusts(&self, owner: &Name, key: &DNSKEY) -> bool {
        if self.owner() != owner || key.revoke() {
            return false;
        }
        match self {
            Self::Ds { ds, .. } => ds_matches(ds, owner, key),
            Self::Dnskey { key: anchor, .. } => {
                anchor.public_key().algorithm() == key.public_key().algorithm()
                    && anchor.public_key().public_bytes() == key.public_key().public_bytes()
            }
        }
    }
}

/// Whether `ds` (at the parent) is the digest of `key` (RFC 4034 §5.1.4): key tag, algorithm,
/// and digest all agree, and the key has the Zone Key flag.
pub fn ds_matches(ds: &DS, owner: &Name, key: &DNSKEY) -> bool {
    let tag_matches = key.calculate_key_tag().ok() == Some(ds.key_tag());
    tag_matches
        && ds.algorithm() == key.public_key().algorithm()
        && ds.covers(owner, key).unwrap_or(false)
}

impl fmt::Debug for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ds { owner, ds } => write!(f, "{owner} DS {ds}"),
            Self::Dnskey { owner, key } => {
                let tag = key.calculate_key_tag().unwrap_or(0);
                write!(
                    f,
                    "{owner} DNSKEY {} (tag {tag})",
                    u8::from(key.public_key().algorithm())
                )
            }
        }
    }
}

/// The set of trust anchors in force for a run.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
    source: String,
}

/// Why a trust anchor file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustAnchorError {
    #[error("cannot read trust anchor file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trust anchor file {source_name}, line {line}: {reason}")]
    Syntax {
        source_name: String,
        line: usize,
        reason: String,
    },
    #[error(
        "trust anchor file {source_name} holds no DS or DNSKEY record; expected lines like \". IN DS 20326 8 2 E06D…\""
    )]
    Empty { source_name: String },
}

impl TrustAnchors {
    /// The root zone's KSKs, built in.
    pub fn root() -> Self {
        let anchors = ROOT_DS
            .iter()
            .map(|(tag, algorithm, digest_type, hex)| Anchor::Ds {
                owner: Name::root(),
                ds: DS::new(
                    *tag,
                    Algorithm::from_u8(*algorithm),
                    DigestType::from(*digest_type),
                    // invariant: the constants above are valid hex.
                    data_encoding::HEXUPPER
                        .decode(hex.as_bytes())
                        .expect("root DS hex"),
                ),
            })
            .collect();
        Self {
            anchors,
            source: "built-in root KSKs 20326, 38696".to_string(),
        }
    }

    /// Reads a trust anchor file.
    pub fn from_file(path: &Path) -> Result<Self, TrustAnchorError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustAnchorError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses DS and DNSKEY lines in zone-file syntax; `source_name` names the input in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, TrustAnchorError> {
        let mut anchors = Vec::new();
        let mut origin = Name::root();
        let mut last_owner: Option<Name> = None;
        for entry in logical_lines(text) {
            let syntax = |reason: String| TrustAnchorError::Syntax {
                source_name: source_name.to_string(),
                line: entry.line,
                reason,
            };
            let mut tokens = entry.tokens.iter().map(String::as_str).peekable();
            let Some(first) = tokens.peek().copied() else {
                continue;
            };
            if first.starts_with('$') {
                tokens.next();
                match first.to_ascii_uppercase().as_str() {
                    "$TTL" => {}
                    "$ORIGIN" => {
                        let name = tokens
                            .next()
                            .ok_or_else(|| syntax("$ORIGIN without a name".into()))?;
                        origin = parse_name(name, &origin).map_err(syntax)?;
                    }
                    other => return Err(syntax(format!("unsupported directive {other}"))),
                }
                continue;
            }
            let owner = if entry.continues_owner {
                last_owner
                    .clone()
                    .ok_or_else(|| syntax("record without an owner name".into()))?
            } else {
                // invariant: peek() returned Some above.
                let token = tokens.next().expect("owner token");
                parse_name(token, &origin).map_err(syntax)?
            };
            last_owner = Some(owner.clone());
            let rtype = loop {
                let token = tokens
                    .next()
                    .ok_or_else(|| syntax("missing record type".into()))?;
                let upper = token.to_ascii_uppercase();
                if upper == "IN" || token.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                break upper;
            };
            let rdata: Vec<&str> = tokens.collect();
            let anchor = match rtype.as_str() {
                "DS" => Anchor::Ds {
                    owner,
                    ds: parse_ds(&rdata).map_err(syntax)?,
                },
                "DNSKEY" => Anchor::Dnskey {
                    owner,
                    key: parse_dnskey(&rdata).map_err(syntax)?,
                },
                other => {
                    return Err(syntax(format!(
                        "record type {other} is not a trust anchor; use DS or DNSKEY"
                    )));
                }
            };
            anchors.push(anchor);
        }
        if anchors.is_empty() {
            return Err(TrustAnchorError::Empty {
                source_name: source_name.to_string(),
            });
        }
        Ok(Self {
            anchors,
            source: source_name.to_string(),
        })
    }

    /// Where these anchors came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All anchors.
    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// The deepest anchored name at or above `zone` (where its chain of trust starts).
    pub fn closest_to(&self, zone: &Name) -> Option<Name> {
        self.anchors
            .iter()
            .map(Anchor::owner)
            .filter(|owner| owner.zone_of(zone))
            .max_by_key(|owner| owner.num_labels())
            .cloned()
    }

    /// Whether any anchor for `owner` vouches for `key`.
    pub fn trusts(&self, owner: &Name, key: &DNSKEY) -> bool {
        self.anchors.iter().any(|anchor| anchor.trusts(owner, key))
    }
}

struct LogicalLine {
    line: usize,
    continues_owner: bool,
    tokens: Vec<String>,
}

/// Splits zone-file text into records: comments removed, parentheses joined (RFC 1035 §5.1).
fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let mut lines = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let mut depth = 0usize;
    for (index, raw) in text.lines().enumerate() {
        let content = raw.split(';').next().unwrap_or("");
        let entry = current.get_or_insert_with(|| LogicalLine {
            line: index + 1,
            continues_owner: content.starts_with([' ', '\t']) && !content.trim().is_empty(),
            tokens: Vec::new(),
        });
        for ch in content.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        entry.tokens.extend(
            content
                .replace(['(', ')'], " ")
                .split_whitespace()
                .map(str::to_string),
        );
        if depth == 0
            && let Some(done) = current.take()
            && !done.tokens.is_empty()
        {
            lines.push(done);
        }
    }
    if let Some(done) = current.filter(|line| !line.tokens.is_empty()) {
        lines.push(done);
    }
    lines
}

fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    Name::parse(text, Some(origin)).map_err(|e| format!("{text:?} is not a domain name ({e})"))
}

fn number<T: std::str::FromStr>(token: Option<&&str>, what: &str) -> Result<T, String> {
    let token = token.ok_or_else(|| format!("{what} is missing"))?;
    token
        .parse()
        .map_err(|_| format!("{what} {token:?} is not a number"))
}

fn parse_algorithm(token: Option<&&str>) -> Result<Algorithm, String> {
    let token = token.ok_or("algorithm is missing")?;
    let number = match token.to_ascii_uppercase().as_str() {
        "RSASHA1" => 5,
        "RSASHA1-NSEC3-SHA1" => 7,
        "RSASHA256" => 8,
        "RSASHA512" => 10,
        "ECDSAP256SHA256" => 13,
        "ECDSAP384SHA384" => 14,
        "ED25519" => 15,
        "ED448" => 16,
        other => other
            .parse()
            .map_err(|_| format!("algorithm {token:?} is not a number or mnemonic"))?,
    };
    Ok(Algorithm::from_u8(number))
}

/// DS RDATA: key tag, algorithm, digest type, digest in hex (RFC 4034 §5.3).
fn parse_ds(fields: &[&str]) -> Result<DS, String> {
    let tag: u16 = number(fields.first(), "key tag")?;
    let algorithm = parse_algorithm(fields.get(1))?;
    let digest_type: u8 = number(fields.get(2), "digest type")?;
    let hex: String = fields.iter().skip(3).copied().collect();
    if hex.is_empty() {
        return Err("DS digest is missing".into());
    }
    let digest = data_encoding::HEXUPPER_PERMISSIVE
        .decode(hex.as_bytes())
        .map_err(|_| "DS digest is not hex".to_string())?;
    Ok(DS::new(
        tag,
        algorithm,
        DigestType::from(digest_type),
        digest,
    ))
}

/// DNSKEY RDATA: flags, protocol (3), algorithm, public key in base64 (RFC 4034 §2.2).
fn parse_dnskey(fields: &[&str]) -> Result<DNSKEY, String> {
    let flags: u16 = number(fields.first(), "flags")?;
    let protocol: u8 = number(fields.get(1), "protocol")?;
    if protocol != 3 {
        return Err(format!("DNSKEY protocol is {protocol}, must be 3"));
    }
    let algorithm = parse_algorithm(fields.get(2))?;
    let key: String = fields.iter().skip(3).copied().collect();
    if key.is_empty() {
        return Err("DNSKEY public key is missing".into());
    }
    let bytes = data_encoding::BASE64
        .decode(key.as_bytes())
        .map_err(|_| "DNSKEY public key is not base64".to_string())?;
    Ok(DNSKEY::with_flags(
        flags,
        PublicKeyBuf::new(bytes, algorithm),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KSK-2017 as Debian's dns-root-data ships it in root.key.
    const ROOT_KEY_20326: &str = ". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU= ; keytag 20326";

    #[test]
    fn built_in_root_ds_matches_the_published_root_ksk() {
        let file = TrustAnchors::parse(ROOT_KEY_20326, "root.key").unwrap();
        let Anchor::Dnskey { key, .. } = &file.anchors()[0] else {
            panic!("expected a DNSKEY anchor");
        };
        assert_eq!(key.calculate_key_tag().unwrap(), 20326);
        assert!(TrustAnchors::root().trusts(&Name::root(), key));
    }

    #[test]
    fn parses_ds_lines_as_dns_root_data_ships_them() {
        let text = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
                    . IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16\n";
        let anchors = TrustAnchors::parse(text, "root.ds").unwrap();
        assert_eq!(anchors.anchors().len(), 2);
        assert_eq!(anchors.anchors(), TrustAnchors::root().anchors());
    }

    #[test]
    fn parses_unbound_style_with_ttl_comments_and_parentheses() {
        let text = "; autotrust trust anchor file\n;;id: . 1\n\
                    example.test. 3600 IN DNSKEY 257 3 13 (\n  mdsswUyr3DPW132mOi8V9xESWE8jTo0d\n  xCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== ) ;{id = 1}\n\
                    test. DS 2371 ECDSAP256SHA256 2 ( 1F98A6B7 33C8DE71 )\n";
        let anchors = TrustAnchors::parse(text, "lab.key").unwrap();
        assert_eq!(anchors.anchors().len(), 2);
        assert_eq!(
            anchors.anchors()[0].owner(),
            &Name::from_ascii("example.test.").unwrap()
        );
        let Anchor::Ds { ds, .. } = &anchors.anchors()[1] else {
            panic!("expected DS");
        };
        assert_eq!(ds.key_tag(), 2371);
        assert_eq!(
            ds.digest(),
            &[0x1F, 0x98, 0xA6, 0xB7, 0x33, 0xC8, 0xDE, 0x71]
        );
    }

    #[test]
    fn closest_anchor_is_the_deepest_ancestor() {
        let text = ". DS 1 8 2 00\ntest. DS 2 8 2 00\nother. DS 3 8 2 00\n";
        let anchors = TrustAnchors::parse(text, "t").unwrap();
        let zone = Name::from_ascii("example.test.").unwrap();
        assert_eq!(
            anchors.closest_to(&zone),
            Some(Name::from_ascii("test.").unwrap())
        );
        let elsewhere = Name::from_ascii("example.org.").unwrap();
        assert_eq!(anchors.closest_to(&elsewhere), Some(Name::root()));
        let only_test = TrustAnchors::parse("test. DS 2 8 2 00", "t").unwrap();
        assert_eq!(only_test.closest_to(&elsewhere), None);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = TrustAnchors::parse(". IN DS 1 8 2 00\n. IN A 192.0.2.1\n", "anchors.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("anchors.txt, line 2"), "{err}");
        assert!(err.contains("not a trust anchor"), "{err}");
        let err = TrustAnchors::parse("; nothing\n", "empty.key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty.key holds no DS or DNSKEY"), "{err}");
        let err = TrustAnchors::parse(". DNSKEY 257 2 8 AAAA", "k")
            .unwrap_err()
            .to_string();
        assert!(err.contains("protocol is 2"), "{err}");
        let err = TrustAnchors::from_file(Path::new("/nonexistent/anchor.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/anchor.key"), "{err}");
    }
}
