//! Discovery of what the agent runs on: host name, container, Kubernetes pod and cloud
//! metadata (metadata.md). The parsers are pure; the few functions that read files or
//! the environment only feed them.

pub(crate) mod cloud;
pub(crate) mod container;
pub(crate) mod hostname;

use std::io::Read;

/// More than any `/proc` or `/etc` file this module reads should hold.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// A file's contents (the first MiB, invalid UTF-8 replaced), `None` when unreadable.
fn read_capped(path: &str) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_files_read_as_none() {
        assert_eq!(super::read_capped("/nonexistent/elastic-apm-rs"), None);
    }
}
