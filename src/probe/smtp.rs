//! The SMTP dialogue without I/O: replies as RFC 5321 §4.2 defines them.
//!
//! A reply is one or more lines `CODE-text` ending with a line `CODE text` (or just `CODE`);
//! every line carries the same three-digit code. Banners and EHLO responses are multi-line in
//! practice, and a probe that stops reading after the first line would read the rest as the
//! answer to its next command. EHLO keywords (RFC 5321 §4.1.1.1) tell us whether STARTTLS is
//! offered (RFC 3207 §4).
//!
//! Limits: a reply line may be at most 512 octets (RFC 5321 §4.5.3.1.5); real servers
//! exceed that a little, so we accept up to [`MAX_LINE`] and at most [`MAX_LINES`] lines, so
//! that a hostile or broken server cannot make the probe buffer without bound.

use std::fmt;

/// The longest reply line accepted, CRLF included.
pub const MAX_LINE: usize = 4096;
/// The most lines accepted in one reply.
pub const MAX_LINES: usize = 256;

/// One complete SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code, e.g. 220, 250, 454.
    pub code: u16,
    /// The text of each line, without code, separator and CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2yz: the command was accepted (RFC 5321 §4.2.1).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The lines joined with " / ", for error messages and reports.
    pub fn text(&self) -> String {
        self.lines.join(" / ")
    }

    /// The EHLO keywords (first word of every line after the greeting line), upper case.
    pub fn ehlo_keywords(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// Whether an EHLO reply offers STARTTLS (RFC 3207 §4).
    pub fn offers_starttls(&self) -> bool {
        self.ehlo_keywords().iter().any(|k| k == "STARTTLS")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// Why a line is not part of a well-formed SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// The line does not start with three digits and a separator.
    #[error("not an SMTP reply line: {line:?}")]
    NotAReply {
        /// The offending line (lossy UTF-8, cut to 120 characters).
        line: String,
    },
    /// A continuation line carried a different code than the first line.
    #[error("reply code changed within a multi-line reply ({first} then {then})")]
    CodeChanged {
        /// The code of the first line.
        first: u16,
        /// The code seen later.
        then: u16,
    },
    /// More than [`MAX_LINES`] lines in one reply.
    #[error("reply has more than {MAX_LINES} lines")]
    TooManyLines,
    /// A line longer than [`MAX_LINE`].
    #[error("reply line longer than {MAX_LINE} octets")]
    LineTooLong,
}

/// Collects reply lines until the last one of a reply arrives.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// A parser waiting for the first line of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (CRLF or LF already removed). Returns the reply once its last line has
    /// been fed; the parser is then ready for the next reply.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, SyntaxError> {
        if line.len() > MAX_LINE {
            return Err(SyntaxError::LineTooLong);
        }
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let not_a_reply = || SyntaxError::NotAReply {
            line: line.chars().take(120).collect(),
        };
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(not_a_reply());
        }
        let code: u16 = line[..3].parse().map_err(|_| not_a_reply())?;
        if !(200..600).contains(&code) {
            return Err(not_a_reply());
        }
        let (last, text) = match bytes.get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(not_a_reply()),
        };
        match self.code {
            Some(first) if first != code => {
                return Err(SyntaxError::CodeChanged { first, then: code });
            }
            _ => self.code = Some(code),
        }
        if self.lines.len() >= MAX_LINES {
            return Err(SyntaxError::TooManyLines);
        }
        self.lines.push(text.to_string());
        if !last {
            return Ok(None);
        }
        let lines = std::mem::take(&mut self.lines);
        self.code = None;
        Ok(Some(Reply { code, lines }))
    }

    /// Whether part of a reply has been fed but not its last line.
    pub fn in_progress(&self) -> bool {
        self.code.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> Result<Vec<Reply>, SyntaxError> {
        let mut parser = ReplyParser::new();
        let mut replies = Vec::new();
        for line in lines {
            if let Some(reply) = parser.push_line(line.as_bytes())? {
                replies.push(reply);
            }
        }
        Ok(replies)
    }

    #[test]
    fn multi_line_banner_is_one_reply() {
        let replies = feed(&["220-mx.example.com ESMTP", "220-no UCE", "220 ready\r"]).unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].code, 220);
        assert_eq!(
            replies[0].lines,
            ["mx.example.com ESMTP", "no UCE", "ready"]
        );
    }

    #[test]
    fn ehlo_keywords_and_starttls() {
        let reply = feed(&[
            "250-mx.example.com",
            "250-PIPELINING",
            "250-starttls",
            "250 8BITMIME",
        ])
        .unwrap()
        .remove(0);
        assert_eq!(
            reply.ehlo_keywords(),
            ["PIPELINING", "STARTTLS", "8BITMIME"]
        );
        assert!(reply.offers_starttls());
        let plain = feed(&["250-mx.example.com STARTTLS", "250 SIZE 100"])
            .unwrap()
            .remove(0);
        assert!(
            !plain.offers_starttls(),
            "the greeting line is not a keyword"
        );
    }

    #[test]
    fn bare_code_and_classes() {
        let reply = feed(&["250"]).unwrap().remove(0);
        assert!(reply.is_positive());
        assert_eq!(reply.text(), "");
        let refused = feed(&["454 4.7.0 TLS not available"]).unwrap().remove(0);
        assert!(!refused.is_positive());
        assert_eq!(refused.to_string(), "454 4.7.0 TLS not available");
    }

    #[test]
    fn rejects_garbage_and_code_changes() {
        assert!(matches!(
            feed(&["HTTP/1.1 400 Bad Request"]),
            Err(SyntaxError::NotAReply { .. })
        ));
        assert!(matches!(
            feed(&["220x"]),
            Err(SyntaxError::NotAReply { .. })
        ));
        assert!(matches!(
            feed(&["999 what"]),
            Err(SyntaxError::NotAReply { .. })
        ));
        assert_eq!(
            feed(&["220-a", "250 b"]),
            Err(SyntaxError::CodeChanged {
                first: 220,
                then: 250
            })
        );
    }

    #[test]
    fn bounds_line_length_and_count() {
        let long = format!("220 {}", "x".repeat(MAX_LINE));
        assert_eq!(feed(&[&long]), Err(SyntaxError::LineTooLong));
        let many: Vec<&str> = std::iter::repeat_n("250-x", MAX_LINES + 1).collect();
        assert_eq!(feed(&many), Err(SyntaxError::TooManyLines));
    }

    #[test]
    fn parser_is_reusable_and_tracks_progress() {
        let mut parser = ReplyParser::new();
        assert!(parser.push_line(b"250-a").unwrap().is_none());
        assert!(parser.in_progress());
        assert!(parser.push_line(b"250 b").unwrap().is_some());
        assert!(!parser.in_progress());
        assert_eq!(parser.push_line(b"221 bye").unwrap().unwrap().code, 221);
    }
}
