//! Writing to stdout the way a Unix tool should: a closed pipe (`daneroll tlsa … | head -1`)
//! ends output quietly instead of panicking as `println!` does.

use std::io::{self, Write};

/// Writes `text` to stdout. Returns `Ok(false)` when the reader has gone away (broken pipe),
/// so the caller stops producing output and exits successfully.
pub fn write_stdout(text: &str) -> io::Result<bool> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `line` and a newline to stdout; see [`write_stdout`].
pub fn write_line(line: &str) -> io::Result<bool> {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    write_stdout(&text)
}
