//! The policy last seen under each MTA-STS `id`, so that `check` can tell a policy that changed
//! while its `id` stayed the same (RFC 8461 §3.1: senders refetch only when the id changes).
//!
//! One small file per domain, `DIR/DOMAIN.json`: the id and the SHA-256 of the policy text as
//! first seen under it. The entry is replaced only when the id changes, so a changed policy is
//! reported on every check until the id changes too. Written atomically (temp file, rename).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// *Stored type*: `DIR/DOMAIN.json`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Seen {
    id: String,
    sha256: String,
}

/// What the memory says about the policy fetched now.
#[derive(Debug, PartialEq, Eq)]
pub enum Recall {
    /// First seen under this id (remembered now).
    New,
    /// The same text as when the id was first seen.
    Same,
    /// Another text under the same id.
    Changed,
}

/// Compares `text` with what was first seen under `id` for `domain`, and remembers it when the
/// id is new. The error says why the memory could not be read or written.
pub fn recall(dir: &Path, domain: &str, id: &str, text: &str) -> Result<Recall, String> {
    let path = dir.join(format!("{}.json", domain.trim_end_matches('.')));
    let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes()));
    if let Ok(old) = fs::read(&path)
        && let Ok(seen) = serde_json::from_slice::<Seen>(&old)
        && seen.id == id
    {
        return Ok(if seen.sha256 == sha256 {
            Recall::Same
        } else {
            Recall::Changed
        });
    }
    let seen = Seen {
        id: id.to_string(),
        sha256,
    };
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bytes = serde_json::to_vec(&seen).map_err(|e| e.to_string())?;
    crate::rollover::store::write_atomically(&path, &bytes, 0o644).map_err(|e| e.to_string())?;
    Ok(Recall::New)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_policy_under_the_same_id_is_reported_until_the_id_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            recall(d, "example.com", "1", "mode: testing").unwrap(),
            Recall::New
        );
        assert_eq!(
            recall(d, "example.com", "1", "mode: testing").unwrap(),
            Recall::Same
        );
        assert_eq!(
            recall(d, "example.com", "1", "mode: enforce").unwrap(),
            Recall::Changed
        );
        assert_eq!(
            recall(d, "example.com", "1", "mode: enforce").unwrap(),
            Recall::Changed
        );
        assert_eq!(
            recall(d, "example.com", "2", "mode: enforce").unwrap(),
            Recall::New
        );
        assert_eq!(
            recall(d, "example.com", "2", "mode: enforce").unwrap(),
            Recall::Same
        );
        assert_eq!(recall(d, "example.net", "2", "other").unwrap(), Recall::New);
        let blocked = d.join("file");
        fs::write(&blocked, b"").unwrap();
        assert!(recall(&blocked.join("sub"), "example.com", "1", "x").is_err());
    }
}
