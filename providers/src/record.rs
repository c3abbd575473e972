//! The TLSA record as daneroll handles it: four fields of RFC 6698 §2.1.
//!
//! Every backend, the propagation observer and the rollover engine speak this one type, so a
//! record read from BIND, from a REST API or computed from a key compares equal when its
//! presentation form (`3 1 1 <HEX>`) is the same. Hex is parsed case-insensitively and always
//! printed upper case, as `dig` and most zone files do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One TLSA record's RDATA (RFC 6698 §2.1): usage, selector, matching type, association data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Tlsa {
    /// Certificate usage (RFC 6698 §2.1.1); SMTP uses 2 (DANE-TA) and 3 (DANE-EE) only.
    pub usage: u8,
    /// Selector (§2.1.2): 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type (§2.1.3): 0 exact, 1 SHA-256, 2 SHA-512.
    pub mtype: u8,
    /// Certificate association data: the digest (or the full bytes for matching type 0).
    pub data: Vec<u8>,
}

impl Tlsa {
    /// A record from its four fields.
    pub fn new(usage: u8, selector: u8, mtype: u8, data: Vec<u8>) -> Self {
        Self {
            usage,
            selector,
            mtype,
            data,
        }
    }

    /// The association data as upper-case hex, as it appears in a zone file.
    pub fn data_hex(&self) -> String {
        data_encoding::HEXUPPER.encode(&self.data)
    }

    /// A short form for logs and tables: `3 1 1 0123ABCD…` (first 8 hex digits).
    pub fn short(&self) -> String {
        let hex = self.data_hex();
        let cut = hex.len().min(8);
        let ellipsis = if hex.len() > cut { "…" } else { "" };
        format!(
            "{} {} {} {}{}",
            self.usage,
            self.selector,
            self.mtype,
            &hex[..cut],
            ellipsis
        )
    }
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.mtype,
            self.data_hex()
        )
    }
}

impl fmt::Debug for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tlsa({self})")
    }
}

/// Why a string is not a TLSA record in presentation form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a TLSA record ({reason}); expected \"USAGE SELECTOR MTYPE HEX\", e.g. \"3 1 1 0A1B…\""
)]
pub struct ParseTlsaError {
    /// What was given (TLSA data is public; this never holds a secret).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for Tlsa {
    type Err = ParseTlsaError;

    /// Parses `3 1 1 ABCD…`; the hex may be split by whitespace or wrapped in parentheses as
    /// zone files allow (RFC 6698 §2.2).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseTlsaError {
            input: input.to_string(),
            reason,
        };
        let cleaned: String = input
            .chars()
            .map(|c| if c == '(' || c == ')' { ' ' } else { c })
            .collect();
        let mut fields = cleaned.split_whitespace();
        let mut number = |what| -> Result<u8, ParseTlsaError> {
            fields
                .next()
                .ok_or_else(|| err(what))?
                .parse::<u8>()
                .map_err(|_| err(what))
        };
        let usage = number("usage is missing or not a number 0-255")?;
        let selector = number("selector is missing or not a number 0-255")?;
        let mtype = number("matching type is missing or not a number 0-255")?;
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(err("association data is missing"));
        }
        let data = data_encoding::HEXUPPER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| err("association data is not an even number of hex digits"))?;
        let expected_len = match mtype {
            1 => Some(32),
            2 => Some(64),
            _ => None,
        };
        if let Some(len) = expected_len
            && data.len() != len
        {
            return Err(err(if mtype == 1 {
                "a SHA-256 digest (matching type 1) is 32 bytes, 64 hex digits"
            } else {
                "a SHA-512 digest (matching type 2) is 64 bytes, 128 hex digits"
            }));
        }
        Ok(Tlsa::new(usage, selector, mtype, data))
    }
}

impl From<Tlsa> for String {
    fn from(record: Tlsa) -> String {
        record.to_string()
    }
}

impl TryFrom<String> for Tlsa {
    type Error = ParseTlsaError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// The owner name of the TLSA RRset for a TCP service on a host (RFC 6698 §3):
/// `_25._tcp.mail.example.com.`
pub fn tlsa_owner(host: &str, port: u16) -> String {
    let host = host.trim_end_matches('.');
    format!("_{port}._tcp.{host}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "8CB0FC6C527506A053F4F14C8464BEBBD6DEDE2738D11468DD953D7D6A3021F1";

    #[test]
    fn round_trips_presentation_form() {
        let record: Tlsa = format!("3 1 1 {}", HEX.to_lowercase()).parse().unwrap();
        assert_eq!(record.to_string(), format!("3 1 1 {HEX}"));
        assert_eq!(record.short(), "3 1 1 8CB0FC6C…");
    }

    #[test]
    fn accepts_split_and_parenthesised_hex() {
        let record: Tlsa = format!("3 1 1 ( {} {} )", &HEX[..20], &HEX[20..])
            .parse()
            .unwrap();
        assert_eq!(record.data_hex(), HEX);
    }

    #[test]
    fn rejects_wrong_digest_length_and_bad_fields() {
        let err = "3 1 1 ABCD".parse::<Tlsa>().unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        assert!("3 1".parse::<Tlsa>().is_err());
        assert!("3 x 1 AB".parse::<Tlsa>().is_err());
        assert!("3 1 0 ABC".parse::<Tlsa>().is_err());
        assert!("3 1 0".parse::<Tlsa>().is_err());
    }

    #[test]
    fn serializes_as_presentation_string() {
        let record: Tlsa = format!("3 1 1 {HEX}").parse().unwrap();
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(json, format!("\"3 1 1 {HEX}\""));
        assert_eq!(serde_json::from_str::<Tlsa>(&json).unwrap(), record);
    }

    #[test]
    fn owner_name_is_absolute() {
        assert_eq!(
            tlsa_owner("mail.example.com", 25),
            "_25._tcp.mail.example.com."
        );
        assert_eq!(
            tlsa_owner("mail.example.com.", 465),
            "_465._tcp.mail.example.com."
        );
    }
}
