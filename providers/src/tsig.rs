//! TSIG keys (RFC 8945) read the way operators already keep them.
//!
//! Operators should not have to convert keys for daneroll, so three forms are read:
//! - BIND key files, as `tsig-keygen` writes them and `nsupdate -k` reads them:
//!   `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` (comments allowed, several keys
//!   per file allowed: then the key name must be given);
//! - Knot's format, as `keymgr -t` writes it and `knot.conf` includes it:
//!   `key:` / `  - id: NAME` / `    algorithm: hmac-sha256` / `    secret: BASE64`;
//! - the one-line form of `nsupdate -y` / `knsupdate -y`: `hmac-sha256:NAME:BASE64`, from a file
//!   or an environment variable (for secret stores that inject variables).
//!
//! Only HMAC-SHA256/384/512 are accepted (RFC 8945 §6: HMAC-MD5 and HMAC-SHA1 are not to be
//! used for new keys); an old key gets an error that says how to make a new one.
//!
//! The secret lives in [`Secret`], whose `Debug` prints `<redacted>` and which has no `Display`;
//! no error of this module ever contains it, nor any text from a line that holds it.

use std::fmt;
use std::path::{Path, PathBuf};

use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

/// Seconds of clock difference a server accepts (RFC 8945 §10 recommends 300).
pub const FUDGE: u16 = 300;

/// The HMAC algorithms daneroll signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// The name as BIND and Knot write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn to_hickory(self) -> TsigAlgorithm {
        match self {
            Self::HmacSha256 => TsigAlgorithm::HmacSha256,
            Self::HmacSha384 => TsigAlgorithm::HmacSha384,
            Self::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A TSIG secret. `Debug` redacts it; it is overwritten when dropped.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: a volatile write through a valid &mut u8, so the wipe is not optimised out.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

/// A TSIG key: its name (which the server knows it by), algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    name: String,
    algorithm: Algorithm,
    secret: Secret,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Why a TSIG key could not be read. Names the file (or variable) and the key, never the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read TSIG key file {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("environment variable {var} (TSIG key) is not set or not UTF-8")]
    EnvMissing { var: String },
    #[error(
        "{origin}: no TSIG key found; expected a BIND key file (key \"NAME\" {{ algorithm \
         hmac-sha256; secret \"...\"; }};), a Knot key section (key: - id: NAME ...) or \
         hmac-sha256:NAME:SECRET"
    )]
    NoKey { origin: String },
    #[error("{origin}: holds several TSIG keys ({names}); say which one to use")]
    SeveralKeys { origin: String, names: String },
    #[error("{origin}: no TSIG key named {name} (the file has: {found})")]
    NotFound {
        origin: String,
        name: String,
        found: String,
    },
    #[error(
        "{origin}: TSIG key {name} uses {algorithm}, which is too weak to publish DANE records \
         with (RFC 8945 §6); make a new key with `tsig-keygen -a hmac-sha256 {name}` and install \
         it on the server"
    )]
    WeakAlgorithm {
        origin: String,
        name: String,
        algorithm: String,
    },
    #[error(
        "{origin}: TSIG key {name} has unknown algorithm {algorithm}; use hmac-sha256, \
         hmac-sha384 or hmac-sha512 (`tsig-keygen -a hmac-sha256 {name}`)"
    )]
    UnknownAlgorithm {
        origin: String,
        name: String,
        algorithm: String,
    },
    #[error("{origin}: the secret of TSIG key {name} is not valid base64")]
    BadSecret { origin: String, name: String },
    #[error("{origin}: TSIG key {name} has no {field}")]
    Missing {
        origin: String,
        name: String,
        field: &'static str,
    },
    #[error("{origin}: {name:?} is not a valid TSIG key name")]
    BadName { origin: String, name: String },
    #[error("{origin} line {line}: {reason}")]
    Syntax {
        origin: String,
        line: usize,
        reason: &'static str,
    },
}

/// A key as found in a file, before its algorithm and secret are checked.
struct RawKey {
    name: String,
    algorithm: Option<String>,
    secret: Option<String>,
}

impl TsigKey {
    /// A key from its parts; `secret` is base64 as key files hold it. `origin` names where the
    /// parts came from, for errors.
    pub fn new(
        name: &str,
        algorithm: &str,
        secret_base64: &str,
        origin: &str,
    ) -> Result<Self, KeyError> {
        let raw = RawKey {
            name: name.to_string(),
            algorithm: Some(algorithm.to_string()),
            secret: Some(secret_base64.to_string()),
        };
        raw.check(origin)
    }

    /// Reads a key file in any of the supported forms; `name` picks one of several keys.
    pub fn from_file(path: &Path, name: Option<&str>) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|error| KeyError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, &path.display().to_string(), name)
    }

    /// Reads `hmac-sha256:NAME:SECRET` (or a whole key file's text) from an environment
    /// variable.
    pub fn from_env(var: &str, name: Option<&str>) -> Result<Self, KeyError> {
        let text = std::env::var(var).map_err(|_| KeyError::EnvMissing {
            var: var.to_string(),
        })?;
        Self::parse(&text, &format!("environment variable {var}"), name)
    }

    /// Parses key text in any of the supported forms. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str, name: Option<&str>) -> Result<Self, KeyError> {
        let keys = if is_knot(text) {
            parse_knot(text, origin)?
        } else if is_bind(text) {
            parse_bind(text, origin)?
        } else {
            parse_line(text, origin)?
        };
        let wanted = match name {
            Some(name) => {
                let found: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
                let same = |k: &&RawKey| same_name(&k.name, name);
                keys.iter().find(same).ok_or_else(|| KeyError::NotFound {
                    origin: origin.to_string(),
                    name: name.to_string(),
                    found: if found.is_empty() {
                        "no keys".into()
                    } else {
                        found.join(", ")
                    },
                })?
            }
            None => match keys.as_slice() {
                [] => {
                    return Err(KeyError::NoKey {
                        origin: origin.to_string(),
                    });
                }
                [only] => only,
                several => {
                    let names: Vec<&str> = several.iter().map(|k| k.name.as_str()).collect();
                    return Err(KeyError::SeveralKeys {
                        origin: origin.to_string(),
                        names: names.join(", "),
                    });
                }
            },
        };
        wanted.check(origin)
    }

    /// The key's name as the server knows it (without a trailing dot).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hickory signer for this key.
    pub(crate) fn signer(&self) -> Result<TSigner, String> {
        let name = Name::from_ascii(&self.name).map_err(|e| e.to_string())?;
        TSigner::new(
            self.secret.expose().to_vec(),
            self.algorithm.to_hickory(),
            name,
            FUDGE,
        )
        .map_err(|e| e.to_string())
    }
}

impl RawKey {
    fn check(&self, origin: &str) -> Result<TsigKey, KeyError> {
        let name = self.name.trim_end_matches('.').to_string();
        if name.is_empty() || Name::from_ascii(&name).is_err() {
            return Err(KeyError::BadName {
                origin: origin.into(),
                name,
            });
        }
        let missing = |field| KeyError::Missing {
            origin: origin.into(),
            name: name.clone(),
            field,
        };
        let algorithm_text = self
            .algorithm
            .as_deref()
            .ok_or_else(|| missing("algorithm"))?;
        let algorithm = parse_algorithm(algorithm_text, origin, &name)?;
        let secret_text = self.secret.as_deref().ok_or_else(|| missing("secret"))?;
        let compact: String = secret_text.split_whitespace().collect();
        let bytes = data_encoding::BASE64
            .decode(compact.as_bytes())
            .ok()
            .filter(|bytes| !bytes.is_empty())
            .ok_or_else(|| KeyError::BadSecret {
                origin: origin.into(),
                name: name.clone(),
            })?;
        Ok(TsigKey {
            name,
            algorithm,
            secret: Secret(bytes),
        })
    }
}

fn parse_algorithm(text: &str, origin: &str, name: &str) -> Result<Algorithm, KeyError> {
    let normal = text.trim().trim_end_matches('.').to_ascii_lowercase();
    match normal.as_str() {
        "hmac-sha256" => Ok(Algorithm::HmacSha256),
        "hmac-sha384" => Ok(Algorithm::HmacSha384),
        "hmac-sha512" => Ok(Algorithm::HmacSha512),
        "hmac-md5" | "hmac-md5.sig-alg.reg.int" | "hmac-sha1" | "hmac-sha224" => {
            Err(KeyError::WeakAlgorithm {
                origin: origin.into(),
                name: name.into(),
                algorithm: normal,
            })
        }
        _ => Err(KeyError::UnknownAlgorithm {
            origin: origin.into(),
            name: name.into(),
            algorithm: normal,
        }),
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn strip_hash_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("")
}

fn is_knot(text: &str) -> bool {
    text.lines()
        .map(strip_hash_comment)
        .any(|line| line.trim_end() == "key:")
}

fn is_bind(text: &str) -> bool {
    text.contains('{')
}

/// `hmac-sha256:NAME:SECRET` on the first non-comment line.
fn parse_line(text: &str, origin: &str) -> Result<Vec<RawKey>, KeyError> {
    let Some((number, line)) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, strip_hash_comment(l).trim()))
        .find(|(_, l)| !l.is_empty())
    else {
        return Ok(Vec::new());
    };
    let parts: Vec<&str> = line.splitn(3, ':').collect();
    match parts.as_slice() {
        [algorithm, name, secret] => Ok(vec![RawKey {
            name: name.to_string(),
            algorithm: Some(algorithm.to_string()),
            secret: Some(secret.to_string()),
        }]),
        [_, _] => Err(KeyError::Syntax {
            origin: origin.into(),
            line: number,
            reason: "the algorithm is missing; write hmac-sha256:NAME:SECRET",
        }),
        _ => Err(KeyError::Syntax {
            origin: origin.into(),
            line: number,
            reason: "not a key; expected hmac-sha256:NAME:SECRET or a BIND or Knot key file",
        }),
    }
}

/// Knot's YAML subset: a top-level `key:` section holding a list of `id`/`algorithm`/`secret`.
fn parse_knot(text: &str, origin: &str) -> Result<Vec<RawKey>, KeyError> {
    let mut keys: Vec<RawKey> = Vec::new();
    let mut in_section = false;
    for (index, raw_line) in text.lines().enumerate() {
        let line = strip_hash_comment(raw_line).trim_end();
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with([' ', '\t', '-']) {
            in_section = line == "key:";
            continue;
        }
        if !in_section {
            continue;
        }
        let mut item = line.trim_start();
        if let Some(rest) = item.strip_prefix('-') {
            keys.push(RawKey {
                name: String::new(),
                algorithm: None,
                secret: None,
            });
            item = rest.trim_start();
        }
        let (field, value) = item.split_once(':').ok_or(KeyError::Syntax {
            origin: origin.into(),
            line: index + 1,
            reason: "expected `field: value` in the key section",
        })?;
        let Some(key) = keys.last_mut() else {
            return Err(KeyError::Syntax {
                origin: origin.into(),
                line: index + 1,
                reason: "a key entry must start with `- id:`",
            });
        };
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        match field.trim() {
            "id" => key.name = value,
            "algorithm" => key.algorithm = Some(value),
            "secret" => key.secret = Some(value),
            _ => {}
        }
    }
    Ok(keys)
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semicolon,
}

/// BIND's named.conf grammar, restricted to `key` statements.
fn parse_bind(text: &str, origin: &str) -> Result<Vec<RawKey>, KeyError> {
    let tokens = tokenize(text, origin)?;
    let mut tokens = tokens.into_iter().peekable();
    let mut keys = Vec::new();
    let syntax = |line, reason| KeyError::Syntax {
        origin: origin.into(),
        line,
        reason,
    };
    while let Some((line, token)) = tokens.next() {
        if token != Token::Word("key".into()) {
            return Err(syntax(line, "expected a `key \"NAME\" { ... };` statement"));
        }
        let name = match tokens.next() {
            Some((_, Token::Word(name) | Token::Quoted(name))) => name,
            _ => return Err(syntax(line, "`key` must be followed by the key name")),
        };
        if !matches!(tokens.next(), Some((_, Token::Open))) {
            return Err(syntax(line, "expected `{` after the key name"));
        }
        let mut key = RawKey {
            name,
            algorithm: None,
            secret: None,
        };
        loop {
            match tokens.next() {
                Some((_, Token::Close)) => break,
                Some((line, Token::Word(field))) => {
                    let value = match tokens.next() {
                        Some((_, Token::Word(v) | Token::Quoted(v))) => v,
                        _ => return Err(syntax(line, "a key field needs a value")),
                    };
                    if !matches!(tokens.next(), Some((_, Token::Semicolon))) {
                        return Err(syntax(line, "expected `;` after a key field"));
                    }
                    match field.as_str() {
                        "algorithm" => key.algorithm = Some(value),
                        "secret" => key.secret = Some(value),
                        _ => return Err(syntax(line, "a key has only `algorithm` and `secret`")),
                    }
                }
                Some((line, _)) => return Err(syntax(line, "expected `algorithm` or `secret`")),
                None => return Err(syntax(line, "the key block is not closed with `};`")),
            }
        }
        if !matches!(tokens.next(), Some((_, Token::Semicolon))) {
            return Err(syntax(line, "expected `;` after `}`"));
        }
        keys.push(key);
    }
    Ok(keys)
}

fn tokenize(text: &str, origin: &str) -> Result<Vec<(usize, Token)>, KeyError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => skip_line(&mut chars, &mut line),
            '/' if chars.peek() == Some(&'/') => skip_line(&mut chars, &mut line),
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut previous = ' ';
                loop {
                    match chars.next() {
                        Some('/') if previous == '*' => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            previous = c;
                        }
                        None => {
                            return Err(KeyError::Syntax {
                                origin: origin.into(),
                                line: start,
                                reason: "unterminated /* comment",
                            });
                        }
                    }
                }
            }
            '{' => tokens.push((line, Token::Open)),
            '}' => tokens.push((line, Token::Close)),
            ';' => tokens.push((line, Token::Semicolon)),
            '"' => {
                let start = line;
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            value.push(c);
                        }
                        None => {
                            return Err(KeyError::Syntax {
                                origin: origin.into(),
                                line: start,
                                reason: "unterminated quoted string",
                            });
                        }
                    }
                }
                tokens.push((start, Token::Quoted(value)));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || "{};\"".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push((line, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, line: &mut usize) {
    for c in chars.by_ref() {
        if c == '\n' {
            *line += 1;
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "MdpaG8zZFICjigN4RpuBa0Qy65VLxo+cSfhJBlg8g3E=";

    fn bind_file(name: &str, algorithm: &str) -> String {
        format!("key \"{name}\" {{\n\talgorithm {algorithm};\n\tsecret \"{SECRET}\";\n}};\n")
    }

    #[test]
    fn reads_tsig_keygen_output() {
        let key = TsigKey::parse(&bind_file("daneroll", "hmac-sha256"), "k.key", None).unwrap();
        assert_eq!(key.name(), "daneroll");
        assert_eq!(key.algorithm(), Algorithm::HmacSha256);
        assert_eq!(key.secret.expose().len(), 32);
    }

    #[test]
    fn reads_bind_file_with_comments_and_several_keys() {
        let text = format!(
            "// made by tsig-keygen\n/* two\nkeys */ {}# other\n{}",
            bind_file("a.example.", "HMAC-SHA512"),
            bind_file("b", "hmac-sha384")
        );
        let err = TsigKey::parse(&text, "keys.conf", None).unwrap_err();
        assert!(
            err.to_string()
                .contains("several TSIG keys (a.example., b)"),
            "{err}"
        );
        let key = TsigKey::parse(&text, "keys.conf", Some("a.example")).unwrap();
        assert_eq!(
            (key.name(), key.algorithm()),
            ("a.example", Algorithm::HmacSha512)
        );
        let err = TsigKey::parse(&text, "keys.conf", Some("c")).unwrap_err();
        assert!(err.to_string().contains("no TSIG key named c"), "{err}");
    }

    #[test]
    fn reads_knot_keymgr_output() {
        let text = format!(
            "# hmac-sha256:knot-key:{SECRET}\nkey:\n  - id: knot-key\n    algorithm: \
             hmac-sha256\n    secret: {SECRET}\nacl:\n  - id: x\n"
        );
        let key = TsigKey::parse(&text, "knot.conf", None).unwrap();
        assert_eq!(key.name(), "knot-key");
        assert_eq!(key.secret.expose().len(), 32);
    }

    #[test]
    fn reads_nsupdate_y_form() {
        let key = TsigKey::parse(&format!("hmac-sha384:upd:{SECRET}\n"), "env", None).unwrap();
        assert_eq!(
            (key.name(), key.algorithm()),
            ("upd", Algorithm::HmacSha384)
        );
        let err = TsigKey::parse(&format!("upd:{SECRET}"), "env", None).unwrap_err();
        assert!(err.to_string().contains("algorithm is missing"), "{err}");
    }

    #[test]
    fn weak_algorithms_suggest_tsig_keygen() {
        for algorithm in ["hmac-md5", "HMAC-MD5.SIG-ALG.REG.INT.", "hmac-sha1"] {
            let err = TsigKey::parse(&bind_file("old", algorithm), "/etc/k.key", None).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, KeyError::WeakAlgorithm { .. }), "{text}");
            assert!(text.contains("tsig-keygen -a hmac-sha256 old"), "{text}");
            assert!(text.contains("/etc/k.key"), "{text}");
        }
    }

    #[test]
    fn errors_never_show_the_secret() {
        let broken = [
            bind_file("k", "hmac-sha999"),
            format!("key \"k\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }}"),
            format!("key \"k\" {{ algorithm hmac-sha256; secret \"{SECRET}"),
            format!("key \"k\" {{ secret \"{SECRET}\"; }};"),
            format!("key \"k\" {{ algorithm hmac-sha256; secret {SECRET}!; }};"),
            format!("key:\n  - id: k\n    algorithm: hmac-md5\n    secret: {SECRET}\n"),
            format!("hmac-sha256:k:{SECRET}%%"),
        ];
        for text in broken {
            let err = TsigKey::parse(&text, "f", None).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(&SECRET[..20]), "secret leaked: {shown}");
        }
        let key = TsigKey::parse(&bind_file("k", "hmac-sha256"), "f", None).unwrap();
        let shown = format!("{key:?}");
        assert!(
            !shown.contains(&SECRET[..20]) && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err =
            TsigKey::parse("key \"k\" {\n algorithm hmac-sha256\n};", "f.key", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.key line 2: expected `;` after a key field"
        );
        let err = TsigKey::parse("options { };", "f.key", None).unwrap_err();
        assert!(
            err.to_string().starts_with("f.key line 1: expected a `key"),
            "{err}"
        );
        let err = TsigKey::parse("   \n# nothing\n", "f.key", None).unwrap_err();
        assert!(matches!(err, KeyError::NoKey { .. }), "{err}");
    }

    #[test]
    fn from_file_names_the_missing_file() {
        let err = TsigKey::from_file(Path::new("/nonexistent/tsig.key"), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tsig.key"), "{err}");
    }
}
