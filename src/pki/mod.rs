//! Certificates and keys in, TLSA records out (RFC 6698 §2.1).
//!
//! A TLSA record commits to bytes: the certificate (selector 0) or its SubjectPublicKeyInfo
//! (selector 1), exactly as the server will send them, so this module never re-encodes anything
//! it read. RFC 7671 §5.1 recommends `3 1 1` (DANE-EE, SPKI, SHA-256) because it survives
//! renewals with the same key, which is what daneroll's rollover relies on; RFC 7672 §3.1.3 rules
//! out usages 0 and 1 for SMTP, so the command line refuses them there.
//!
//! - [`input`]: reads files and stdin (PEM or DER, detected) into [`Item`]s, with an error that
//!   names the file and the problem for every bad input seen in the wild;
//! - [`tlsa`]: which items a usage refers to and the record for a selector and matching type;
//! - [`keygen`]: new private keys for the next rollover.

mod der;
pub mod input;
mod item;
mod key;
pub mod keygen;
mod pem;
pub mod tlsa;

pub use input::{
    InputError, InputProblem, Parsed, Source, parse_items, parse_items_noting, private_key_pem,
    read_items, read_items_noting,
};
pub use item::{Certificate, ContentError, Csr, Item, ItemKind, PrivateKey, PublicKey};
pub use key::{KeyError, KeyFormat};
pub use keygen::{GeneratedKey, KeyType, KeygenError, generate_key, write_private_key};
pub use tlsa::{TlsaError, subjects, tlsa_for};
