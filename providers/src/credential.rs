//! API tokens for the REST backends: read from a file or an environment variable that the
//! configuration names, and held in a type that never shows them.
//!
//! Why a file or a variable and never the token itself in the config: daneroll's config is
//! readable by whoever debugs a failed rollover, is pasted into bug reports and sits in backups;
//! a token there is a token leaked. A file (mode 0600, owned by root) or a systemd
//! `LoadCredential=`/`Environment=` keeps it where operators already keep secrets.
//!
//! [`Secret`]'s `Debug` and `Display` print `<redacted>`, so a `{:?}` of a backend, a settings
//! struct or an error can never show the token. Errors here name the file or variable, never the
//! content.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An API token. Its `Debug` and `Display` never show it; only the HTTP layer reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token (tests and callers that got it elsewhere).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The `count` parts of a credential separated by `:`, each non-empty; `None` otherwise.
    pub(crate) fn split(&self, count: usize) -> Option<Vec<Secret>> {
        let parts: Vec<Secret> = self.0.split(':').map(Secret::new).collect();
        (parts.len() == count && parts.iter().all(|p| !p.0.is_empty())).then_some(parts)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a token comes from: the config names one of these, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A file holding the token (surrounding whitespace and a final newline are ignored).
    File(PathBuf),
    /// An environment variable holding the token.
    Env(String),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "token file {}", path.display()),
            Self::Env(var) => write!(f, "token from environment variable {var}"),
        }
    }
}

/// Why a token could not be read. Names the file or variable, never the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Neither `token_file` nor `token_env` was given, or both were.
    #[error(
        "[dns.{section}]: set exactly one of `token_file` (a file holding the API token) or \
         `token_env` (an environment variable holding it){found}"
    )]
    NoSingleSource { section: String, found: String },

    #[error("cannot read the API token from {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },

    #[error("the API token file {path} is empty")]
    FileEmpty { path: PathBuf },

    #[error(
        "the environment variable {var} that should hold the API token is not set (or not \
         valid UTF-8) in daneroll's environment; cron and systemd do not inherit your shell's \
         variables"
    )]
    EnvMissing { var: String },

    #[error("the environment variable {var} that should hold the API token is empty")]
    EnvEmpty { var: String },

    /// Control characters or spaces inside the token cannot go into an HTTP header.
    #[error(
        "the API token from {source_name} contains spaces or control characters inside it; it \
         must be the token alone"
    )]
    BadCharacters { source_name: String },

    /// A credential made of several parts (OVH's `APPLICATION_KEY:APPLICATION_SECRET:
    /// CONSUMER_KEY`) does not have them all. Says what is expected, never what was found.
    #[error("the API credential from {source_name} must be {expected}")]
    BadFormat {
        source_name: String,
        expected: &'static str,
    },
}

impl TokenSource {
    /// The source from a config section's `token_file` / `token_env` fields: exactly one.
    pub fn from_fields(
        section: &str,
        file: Option<PathBuf>,
        env: Option<String>,
    ) -> Result<Self, CredentialError> {
        match (file, env) {
            (Some(path), None) => Ok(Self::File(path)),
            (None, Some(var)) => Ok(Self::Env(var)),
            (file, env) => Err(CredentialError::NoSingleSource {
                section: section.to_string(),
                found: if file.is_some() && env.is_some() {
                    ", not both".to_string()
                } else {
                    String::new()
                },
            }),
        }
    }

    /// Reads the token now.
    pub fn load(&self) -> Result<Secret, CredentialError> {
        let raw = match self {
            Self::File(path) => read_file(path)?,
            Self::Env(var) => {
                let value = std::env::var(var)
                    .map_err(|_| CredentialError::EnvMissing { var: var.clone() })?;
                if value.trim().is_empty() {
                    return Err(CredentialError::EnvEmpty { var: var.clone() });
                }
                value
            }
        };
        let token = raw.trim();
        if token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(CredentialError::BadCharacters {
                source_name: self.to_string(),
            });
        }
        Ok(Secret(token.to_string()))
    }

    /// Reads a credential that is a document rather than a token (a service-account JSON key,
    /// a PEM private key): whitespace and line breaks inside are kept, only the surrounding
    /// whitespace is dropped.
    pub fn load_document(&self) -> Result<Secret, CredentialError> {
        let raw = match self {
            Self::File(path) => read_file(path)?,
            Self::Env(var) => {
                let value = std::env::var(var)
                    .map_err(|_| CredentialError::EnvMissing { var: var.clone() })?;
                if value.trim().is_empty() {
                    return Err(CredentialError::EnvEmpty { var: var.clone() });
                }
                value
            }
        };
        Ok(Secret(raw.trim().to_string()))
    }

    /// A warning when a token file can be read by other users (`config check` shows it).
    pub fn permission_warning(&self) -> Option<String> {
        let Self::File(path) = self else {
            return None;
        };
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o044 != 0).then(|| {
            format!(
                "{} is readable by group or others (mode {:o}); `chmod 600` it",
                path.display(),
                mode & 0o777
            )
        })
    }
}

fn read_file(path: &Path) -> Result<String, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|e| CredentialError::FileUnreadable {
        path: path.to_path_buf(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
            _ => e.to_string(),
        },
    })?;
    if text.trim().is_empty() {
        return Err(CredentialError::FileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tok-3f9a1c77e0";

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new(TOKEN);
        assert_eq!(format!("{secret}"), "<redacted>");
        assert!(!format!("{secret:?}").contains(TOKEN));
        assert!(!format!("{:?}", Some(&secret)).contains(TOKEN));
    }

    #[test]
    fn reads_a_file_and_trims_the_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, format!("  {TOKEN}\n")).unwrap();
        let source = TokenSource::File(path.clone());
        assert_eq!(source.load().unwrap().expose(), TOKEN);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(source.permission_warning().unwrap().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(source.permission_warning(), None);
    }

    #[test]
    fn file_errors_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TokenSource::File(dir.path().join("absent"));
        let err = missing.load().unwrap_err().to_string();
        assert!(
            err.contains("absent") && err.contains("no such file"),
            "{err}"
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = TokenSource::File(empty).load().unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");

        let spaced = dir.path().join("spaced");
        std::fs::write(&spaced, format!("{TOKEN} second-line\n")).unwrap();
        let err = TokenSource::File(spaced).load().unwrap_err().to_string();
        assert!(err.contains("spaces") && !err.contains(TOKEN), "{err}");
    }

    #[test]
    fn environment_variable() {
        // A variable name unique to this test; no other test touches it.
        let var = "DANEROLL_TEST_CREDENTIAL_3F9A";
        let source = TokenSource::Env(var.to_string());
        let err = source.load().unwrap_err().to_string();
        assert!(err.contains(var) && err.contains("not set"), "{err}");
        // SAFETY: only this test reads or writes this variable.
        unsafe { std::env::set_var(var, TOKEN) };
        assert_eq!(source.load().unwrap().expose(), TOKEN);
        // SAFETY: as above.
        unsafe { std::env::remove_var(var) };
    }

    #[test]
    fn exactly_one_source() {
        let both = TokenSource::from_fields("cf", Some("/x".into()), Some("X".into()));
        assert!(both.unwrap_err().to_string().contains("not both"));
        let none = TokenSource::from_fields("cf", None, None).unwrap_err();
        assert!(none.to_string().contains("[dns.cf]"), "{none}");
        assert_eq!(
            TokenSource::from_fields("cf", None, Some("X".into())).unwrap(),
            TokenSource::Env("X".into())
        );
    }
}
