//! Reading certificate and key files as operators have them, and saying precisely what is wrong
//! with the ones that cannot be used.
//!
//! [`parse_items`] is pure: bytes in, items (in file order) or one [`InputProblem`] out. A file is
//! PEM when it has a boundary line anywhere, otherwise DER (one element, detected by trying each
//! form). One bad block makes the whole file bad: a chain with an unreadable certificate must not
//! produce a partial set of `2 x x` records. [`read_items`] adds the file system.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::der::{self, DerError};
use super::item::{self, Certificate, ContentError, Csr, Item, PrivateKey, PublicKey};
use super::key::{KeyError, KeyFormat};
use super::pem::{self, Block, FramingError, Label};

/// Inputs larger than this are refused: no certificate file is this big, but `/dev/zero` is.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-` on the command line).
    Stdin,
    /// A file.
    Path(PathBuf),
}

impl Source {
    /// `-` means stdin, anything else is a path.
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::Path(arg.to_path_buf())
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("<stdin>"),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// An input that cannot be used, and why.
#[derive(Debug)]
pub struct InputError {
    /// The input that failed.
    pub input: Source,
    /// What is wrong with it.
    pub problem: InputProblem,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.input, self.problem)?;
        if self.problem.is_encrypted() {
            let file = match &self.input {
                Source::Stdin => "FILE".to_string(),
                Source::Path(path) => path.display().to_string(),
            };
            write!(
                f,
                "; daneroll does not ask for passphrases: decrypt it first with \
                 `openssl pkey -in {file} -out plain.pem` and give it plain.pem"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Where in a file something is: a PEM block (label and BEGIN line) or the whole DER file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A PEM block.
    Block {
        /// Its label.
        label: String,
        /// Its BEGIN line.
        line: usize,
    },
    /// A DER file (one element).
    Der,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block { label, line } => write!(f, "the {label} block at line {line}"),
            Self::Der => f.write_str("the DER data"),
        }
    }
}

/// What is wrong with an input. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum InputProblem {
    /// The path does not exist.
    #[error("no such file")]
    Missing,
    /// The path is a symlink whose target does not exist.
    #[error("dangling symlink (its target does not exist)")]
    DanglingSymlink,
    /// The path is a directory.
    #[error("is a directory, not a certificate or key file")]
    Directory,
    /// Symlinks point at each other.
    #[error("symlink loop (too many levels of symbolic links)")]
    SymlinkLoop,
    /// Opening or reading failed.
    #[error("cannot read it: {0}")]
    Unreadable(io::Error),
    /// More than [`MAX_INPUT_BYTES`].
    #[error("is larger than {} MiB: not a certificate or key file", MAX_INPUT_BYTES >> 20)]
    TooLarge,
    /// Zero bytes (or only whitespace).
    #[error("is empty")]
    Empty,
    /// Neither PEM nor one of the DER forms.
    #[error(
        "is neither PEM (no -----BEGIN line) nor DER ({0}); \
         expected a certificate, chain, private key, public key or CSR"
    )]
    Garbage(&'static str),
    /// A PEM block without END line.
    #[error("{0} has no matching END line: the file is truncated")]
    TruncatedPem(Place),
    /// A PEM END line whose label differs from its BEGIN line.
    #[error("{place} ends with an END {end} line")]
    MismatchedEnd {
        /// The block.
        place: Place,
        /// The label of the END line.
        end: String,
    },
    /// An END line before any BEGIN line.
    #[error("END {label} line at line {line} has no BEGIN line: the start of the file is missing")]
    EndWithoutBegin {
        /// The END line's label.
        label: String,
        /// Its line number.
        line: usize,
    },
    /// The base64 of a PEM block does not decode.
    #[error("{0} is not valid base64")]
    BadBase64(Place),
    /// The DER (of the file or of a PEM block) ends early.
    #[error("{0} is truncated (the DER ends early)")]
    TruncatedDer(Place),
    /// Bytes after the DER element.
    #[error("{place} has {bytes} bytes of trailing data after {what}")]
    TrailingData {
        /// Where.
        place: Place,
        /// What came first, e.g. `a certificate`.
        what: String,
        /// How many bytes follow it.
        bytes: usize,
    },
    /// A PEM label that does not match what the block holds.
    #[error("{place} holds {found}, not what its label says")]
    LabelMismatch {
        /// The block.
        place: Place,
        /// What it really holds.
        found: String,
    },
    /// A block whose content is not a valid item of its label's kind.
    #[error("{place} is not a valid {what}: {reason}")]
    Invalid {
        /// The block or DER data.
        place: Place,
        /// What it should be.
        what: &'static str,
        /// Why not.
        reason: String,
    },
    /// An encrypted private key.
    #[error("{0} is an encrypted private key")]
    Encrypted(Place),
    /// A private key daneroll cannot use.
    #[error("{place}: {error}")]
    Key {
        /// Where.
        place: Place,
        /// Why.
        error: KeyError,
    },
    /// PEM blocks, but none daneroll uses.
    #[error("holds no certificate, private key, public key or CSR (PEM blocks found: {labels})")]
    NothingUsable {
        /// The labels of the blocks that were found, comma-separated.
        labels: String,
    },
}

impl InputProblem {
    /// Whether the input is an encrypted key (the message then says how to decrypt it).
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Self::Encrypted(_))
    }
}

/// Reads `source` and returns what it holds; see [`parse_items`].
pub fn read_items(source: &Source) -> Result<Vec<Item>, InputError> {
    read_items_noting(source).map(|parsed| parsed.items)
}

/// Reads `source`; the items and the encrypted keys skipped beside them (see [`Parsed`]).
pub fn read_items_noting(source: &Source) -> Result<Parsed, InputError> {
    let error = |problem| InputError {
        input: source.clone(),
        problem,
    };
    let bytes = read_source(source).map_err(error)?;
    parse_items_noting(&bytes).map_err(error)
}

/// What an input holds, and what in it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub items: Vec<Item>,
    /// Encrypted private keys beside other items (a combined key-and-certificate file whose
    /// key is encrypted): the records come from the other items, the operator is told.
    pub skipped_encrypted: Vec<Place>,
}

/// The bytes of `source`, at most [`MAX_INPUT_BYTES`].
pub fn read_source(source: &Source) -> Result<Vec<u8>, InputProblem> {
    let mut bytes = Vec::new();
    let read = match source {
        Source::Stdin => io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes),
        Source::Path(path) => {
            let metadata = std::fs::metadata(path).map_err(|e| open_problem(path, e))?;
            if metadata.is_dir() {
                return Err(InputProblem::Directory);
            }
            std::fs::File::open(path)
                .map_err(|e| open_problem(path, e))?
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
        }
    };
    match read {
        Ok(_) if bytes.len() as u64 > MAX_INPUT_BYTES => Err(InputProblem::TooLarge),
        Ok(_) => Ok(bytes),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Err(InputProblem::Directory),
        Err(e) => Err(InputProblem::Unreadable(e)),
    }
}

fn open_problem(path: &Path, e: io::Error) -> InputProblem {
    match (e.kind(), e.raw_os_error()) {
        (_, Some(libc::ELOOP)) => InputProblem::SymlinkLoop,
        (io::ErrorKind::NotFound, _) => match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => InputProblem::DanglingSymlink,
            _ => InputProblem::Missing,
        },
        _ => InputProblem::Unreadable(e),
    }
}

/// Every certificate, key, public key and CSR in `bytes`, in order (encrypted keys beside
/// other items are skipped: [`parse_items_noting`] says which).
pub fn parse_items(bytes: &[u8]) -> Result<Vec<Item>, InputProblem> {
    parse_items_noting(bytes).map(|parsed| parsed.items)
}

/// The UTF-8 byte-order mark some Windows editors put before a PEM file (OpenSSL skips it).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// [`parse_items`], with the encrypted keys it skipped. A leading UTF-8 byte-order mark is
/// ignored, as OpenSSL and GnuTLS ignore it.
pub fn parse_items_noting(bytes: &[u8]) -> Result<Parsed, InputProblem> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InputProblem::Empty);
    }
    if pem::looks_like_pem(bytes) {
        parse_pem(bytes)
    } else {
        parse_der(bytes).map(|item| Parsed {
            items: vec![item],
            skipped_encrypted: Vec::new(),
        })
    }
}

fn parse_der(bytes: &[u8]) -> Result<Item, InputProblem> {
    let (tlv, rest) = match der::read_tlv(bytes) {
        Ok(found) => found,
        Err(DerError::Truncated) if bytes[0] == der::SEQUENCE => {
            return Err(InputProblem::TruncatedDer(Place::Der));
        }
        Err(_) => return Err(InputProblem::Garbage("not a DER structure either")),
    };
    let item = match item::classify(tlv.raw) {
        Some(Ok(item)) => item,
        Some(Err(KeyError::Encrypted)) => return Err(InputProblem::Encrypted(Place::Der)),
        Some(Err(error)) => {
            return Err(InputProblem::Key {
                place: Place::Der,
                error,
            });
        }
        None if tlv.tag == der::SEQUENCE => {
            return Err(InputProblem::Garbage(
                "a DER SEQUENCE, but not a certificate, CSR, public key or private key",
            ));
        }
        None => return Err(InputProblem::Garbage("not a DER structure either")),
    };
    if !rest.is_empty() {
        return Err(InputProblem::TrailingData {
            place: Place::Der,
            what: item.kind().to_string(),
            bytes: rest.len(),
        });
    }
    Ok(item)
}

/// The first private key in `bytes` (PEM or DER), re-encoded from its parsed DER as one PEM
/// block of its own format (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`): what an
/// MTA's key file should hold, whatever the input's layout (DER, indented PEM, a combined file
/// with certificates, text around the blocks). `None` when `bytes` holds no (unencrypted)
/// private key. Secret: never log the result.
pub fn private_key_pem(bytes: &[u8]) -> Result<Option<Vec<u8>>, InputProblem> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let found = if pem::looks_like_pem(bytes) {
        let mut found = None;
        for block in &framed(bytes)? {
            let format = match Label::of(block.label) {
                Label::PrivateKey => KeyFormat::Pkcs8,
                Label::RsaPrivateKey => KeyFormat::Pkcs1,
                Label::EcPrivateKey => KeyFormat::Sec1,
                _ => continue,
            };
            if block.encrypted_header {
                continue;
            }
            let Ok(der) = pem::decode(block, Label::of(block.label)) else {
                continue;
            };
            if PrivateKey::from_der(format, &der).is_ok() {
                found = Some((format, der));
                break;
            }
        }
        found
    } else {
        match parse_der(bytes)? {
            Item::PrivateKey(key) => Some((key.format(), bytes.to_vec())),
            _ => None,
        }
    };
    Ok(found.map(|(format, der)| {
        let label = match format {
            KeyFormat::Pkcs8 => "PRIVATE KEY",
            KeyFormat::Pkcs1 => "RSA PRIVATE KEY",
            KeyFormat::Sec1 => "EC PRIVATE KEY",
        };
        let mut out = format!("-----BEGIN {label}-----\n");
        let encoded = data_encoding::BASE64.encode(&der);
        for chunk in encoded.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out.into_bytes()
    }))
}

/// The PEM blocks of `bytes`, framing errors as input problems.
fn framed(bytes: &[u8]) -> Result<Vec<Block<'_>>, InputProblem> {
    pem::blocks(bytes).map_err(|e| match e {
        FramingError::MissingEnd { label, line } => {
            InputProblem::TruncatedPem(Place::Block { label, line })
        }
        FramingError::MismatchedEnd { label, line, end } => InputProblem::MismatchedEnd {
            place: Place::Block { label, line },
            end,
        },
        FramingError::EndWithoutBegin { label, line } => {
            InputProblem::EndWithoutBegin { label, line }
        }
    })
}

fn parse_pem(bytes: &[u8]) -> Result<Parsed, InputProblem> {
    let blocks = framed(bytes)?;
    let mut items = Vec::with_capacity(blocks.len());
    let mut skipped_encrypted = Vec::new();
    for block in &blocks {
        match parse_block(block) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {}
            Err(InputProblem::Encrypted(place)) => skipped_encrypted.push(place),
            Err(other) => return Err(other),
        }
    }
    if items.is_empty() {
        // Only an encrypted key: say so (the message tells how to decrypt it).
        if let Some(place) = skipped_encrypted.into_iter().next() {
            return Err(InputProblem::Encrypted(place));
        }
        let labels: Vec<&str> = blocks.iter().map(|b| b.label).collect();
        return Err(InputProblem::NothingUsable {
            labels: labels.join(", "),
        });
    }
    Ok(Parsed {
        items,
        skipped_encrypted,
    })
}

/// The item in one block; `None` for blocks daneroll does not use (CRLs, EC parameters, …).
fn parse_block(block: &Block<'_>) -> Result<Option<Item>, InputProblem> {
    let place = Place::Block {
        label: block.label.to_string(),
        line: block.line,
    };
    let label = Label::of(block.label);
    if block.encrypted_header || label == Label::EncryptedPrivateKey {
        return Err(InputProblem::Encrypted(place));
    }
    if label == Label::Other {
        return Ok(None);
    }
    let der = pem::decode(block, label).map_err(|_| InputProblem::BadBase64(place.clone()))?;
    let (parsed, what) = match label {
        Label::Certificate => (
            Certificate::from_der(der.clone()).map(Item::Certificate),
            "certificate",
        ),
        Label::PublicKey => (
            PublicKey::from_der(der.clone()).map(Item::PublicKey),
            "public key (SubjectPublicKeyInfo)",
        ),
        Label::RsaPublicKey => (
            PublicKey::from_rsa_public_key(&der).map(Item::PublicKey),
            "PKCS#1 RSA public key",
        ),
        Label::PrivateKey => (
            PrivateKey::from_der(KeyFormat::Pkcs8, &der).map(Item::PrivateKey),
            "PKCS#8 private key",
        ),
        Label::RsaPrivateKey => (
            PrivateKey::from_der(KeyFormat::Pkcs1, &der).map(Item::PrivateKey),
            "PKCS#1 RSA private key",
        ),
        Label::EcPrivateKey => (
            PrivateKey::from_der(KeyFormat::Sec1, &der).map(Item::PrivateKey),
            "SEC1 EC private key",
        ),
        Label::Csr => (
            Csr::from_der(&der).map(Item::Csr),
            "certificate signing request",
        ),
        Label::EncryptedPrivateKey | Label::Other => return Ok(None),
    };
    match parsed {
        Ok(item) => Ok(Some(item)),
        Err(ContentError::Truncated) => Err(InputProblem::TruncatedDer(place)),
        Err(ContentError::TrailingData { bytes }) => Err(InputProblem::TrailingData {
            place,
            what: format!("the {what}"),
            bytes,
        }),
        Err(ContentError::Key(KeyError::Encrypted)) => Err(InputProblem::Encrypted(place)),
        Err(ContentError::Key(error)) if !matches!(error, KeyError::Malformed { .. }) => {
            Err(InputProblem::Key { place, error })
        }
        Err(other) => Err(mismatch_or_invalid(place, what, &der, other)),
    }
}

/// A block that does not parse as its label says: if it is some other known form, the label is
/// wrong; otherwise it is simply invalid.
fn mismatch_or_invalid(
    place: Place,
    what: &'static str,
    der: &[u8],
    error: ContentError,
) -> InputProblem {
    match item::classify(der) {
        Some(Ok(item)) => InputProblem::LabelMismatch {
            place,
            found: item.kind().to_string(),
        },
        Some(Err(KeyError::Encrypted)) => InputProblem::LabelMismatch {
            place,
            found: "an encrypted private key".into(),
        },
        _ => InputProblem::Invalid {
            place,
            what,
            reason: error.to_string(),
        },
    }
}
