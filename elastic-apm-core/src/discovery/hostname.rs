//! The detected host name (metadata.md, "Hostname"), without running commands.

/// The host name of this machine, lower-cased and trimmed; `None` when nothing is set.
pub(crate) fn detect() -> Option<String> {
    detect_with(super::read_capped, |name| std::env::var(name).ok())
}

/// The spec's fallback chain over the given file reader and environment. The kernel's
/// host name stands in for `hostname -f`: no DNS lookup at start-up.
fn detect_with(
    read: impl Fn(&str) -> Option<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if cfg!(windows) {
        return env("COMPUTERNAME").and_then(|h| normalize(&h));
    }
    read("/proc/sys/kernel/hostname")
        .and_then(|h| normalize(&h))
        .or_else(|| env("HOSTNAME").and_then(|h| normalize(&h)))
        .or_else(|| env("HOST").and_then(|h| normalize(&h)))
        .or_else(|| read("/etc/hostname").and_then(|h| normalize(&h)))
}

/// Trims characters up to U+0020 from both ends and lower-cases `A-Z`; `None` if empty.
fn normalize(raw: &str) -> Option<String> {
    let trimmed = raw.trim_matches(|c: char| c <= ' ');
    (!trimmed.is_empty()).then(|| trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("\t Web-01.Example.COM\n\0").as_deref(),
            Some("web-01.example.com")
        );
        // Only ASCII letters are lower-cased.
        assert_eq!(normalize("ÄB").as_deref(), Some("Äb"));
        assert_eq!(normalize(" \n\r\t"), None);
        assert_eq!(normalize(""), None);
    }

    #[cfg(not(windows))]
    #[test]
    fn falls_back_in_spec_order() {
        let files = |proc: Option<&'static str>, etc: Option<&'static str>| {
            move |path: &str| match path {
                "/proc/sys/kernel/hostname" => proc.map(str::to_owned),
                "/etc/hostname" => etc.map(str::to_owned),
                _ => None,
            }
        };
        let env = |hostname: Option<&'static str>, host: Option<&'static str>| {
            move |name: &str| match name {
                "HOSTNAME" => hostname.map(str::to_owned),
                "HOST" => host.map(str::to_owned),
                _ => None,
            }
        };
        let detect = |p, e, h, hh| detect_with(files(p, e), env(h, hh));
        assert_eq!(
            detect(Some("Kernel\n"), Some("etc"), Some("a"), Some("b")).as_deref(),
            Some("kernel")
        );
        assert_eq!(
            detect(Some(" \n"), Some("etc"), Some("A"), Some("b")).as_deref(),
            Some("a")
        );
        assert_eq!(
            detect(None, Some("etc"), Some(""), Some("B")).as_deref(),
            Some("b")
        );
        assert_eq!(
            detect(None, Some("Etc\n"), None, None).as_deref(),
            Some("etc")
        );
        assert_eq!(detect(None, None, None, None), None);
    }

    #[test]
    fn detects_something_here() {
        // CI machines and containers have a host name; the result is normalised.
        if let Some(h) = detect() {
            assert_eq!(normalize(&h).as_deref(), Some(h.as_str()));
        }
    }
}
