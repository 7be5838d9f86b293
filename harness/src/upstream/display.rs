//! How progress lines and listings write sizes, durations and times (dates as the reports
//! write them).

use std::time::Duration;

/// `133.4 MB` (decimal units, as `ls -h --si` and download pages write them).
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `4.2s` under a minute, `8m05s` above.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// When a build finished: RFC 3339 UTC (`2026-12-08T00:10:00Z`).
pub(crate) fn utc(epoch_secs: u64) -> String {
    crate::report::conformance::rfc3339(epoch_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_500), "1.5 kB");
        assert_eq!(size(133_447_842), "133.4 MB");
        assert_eq!(size(3_600_000_000), "3.6 GB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(4_240)), "4.2s");
        assert_eq!(duration(Duration::from_secs(485)), "8m05s");
    }

    #[test]
    fn dates() {
        // 2026-12-08 00:10:00 UTC
        assert_eq!(utc(1_796_688_600), "2026-12-08T00:10:00Z");
    }
}
