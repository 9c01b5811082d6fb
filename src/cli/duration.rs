//! Duration flags, checked where they are parsed: a value the loop cannot use (zero where a
//! wait must pass, or so long that adding it to the clock overflows) is a usage error naming
//! the flag, never a panic or a tight loop later. Every duration flag reads the same
//! spellings: a duration with a unit (90s, 5m, 1h30m) or, as kubectl's `--request-timeout`
//! takes it, a bare number of seconds.

use std::time::Duration;

/// The longest duration any flag takes: far beyond any sensible interval or timeout, and far
/// within what the clock can add without overflowing.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Why a duration flag's value is refused; clap names the flag before it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadDuration {
    #[error("must be longer than zero (a zero wait would spin)")]
    Zero,
    #[error("is longer than the limit of {} days", MAX.as_secs() / 86_400)]
    TooLong,
    #[error("{0} (expected a duration such as 30s, 5m or 1h30m, or a number of seconds)")]
    Unreadable(humantime::DurationError),
}

/// A duration that must pass before something happens again (`--interval`, `--backoff`, ...).
pub fn positive(text: &str) -> Result<Duration, BadDuration> {
    let duration = at_most_max(text)?;
    if duration.is_zero() {
        return Err(BadDuration::Zero);
    }
    Ok(duration)
}

/// A duration where zero means "none" (`--debounce 0s`, `--shutdown-grace 0s`).
pub fn zero_or_more(text: &str) -> Result<Duration, BadDuration> {
    at_most_max(text)
}

fn at_most_max(text: &str) -> Result<Duration, BadDuration> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds.min(MAX.as_secs() + 1)),
        Err(_) => humantime::parse_duration(text).map_err(BadDuration::Unreadable)?,
    };
    if duration > MAX {
        return Err(BadDuration::TooLong);
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_where_a_wait_must_pass() {
        let err = positive("0s").unwrap_err();
        assert_eq!(err, BadDuration::Zero);
        assert!(err.to_string().contains("longer than zero"), "{err}");
        assert_eq!(positive("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(zero_or_more("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_the_clock_cannot_add_are_refused() {
        for huge in ["18446744073709551615s", "500000000years", "366days"] {
            let err = positive(huge).unwrap_err();
            assert!(!err.to_string().is_empty(), "{huge}");
        }
        let err = positive("366days").unwrap_err();
        assert!(err.to_string().contains("limit of 365 days"), "{err}");
        assert_eq!(positive("365days"), Ok(MAX));
        // What the loop does with the longest accepted value does not overflow.
        assert!(std::time::Instant::now().checked_add(MAX).is_some());
    }

    #[test]
    fn nonsense_says_what_is_expected() {
        let err = positive("soon").unwrap_err();
        assert!(err.to_string().contains("such as 30s"), "{err}");
        assert!(positive("-5s").is_err());
    }

    #[test]
    fn every_duration_takes_kubectl_spellings() {
        assert_eq!(zero_or_more("5"), Ok(Duration::from_secs(5)));
        assert_eq!(positive("5"), Ok(Duration::from_secs(5)));
        assert_eq!(zero_or_more("0"), Ok(Duration::ZERO));
        assert_eq!(positive("0"), Err(BadDuration::Zero));
        assert_eq!(zero_or_more("1m30s"), Ok(Duration::from_secs(90)));
        assert!(zero_or_more("soon").is_err());
        assert!(zero_or_more("99999999999999").is_err());
        assert!(positive("18446744073709551615").is_err());
    }

    #[test]
    fn the_flags_refuse_what_would_spin_or_overflow_naming_the_flag() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            let mut argv = vec!["kubectl-gitops", "reconcile", "--repo", "file:///r"];
            argv.extend(args);
            crate::cli::Cli::try_parse_from(argv)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let err = parse(&["--backoff", "0s"]).unwrap_err();
        assert!(
            err.contains("--backoff") && err.contains("longer than zero"),
            "{err}"
        );
        let err = parse(&["--interval", "18446744073709551615s"]).unwrap_err();
        assert!(err.contains("--interval"), "{err}");
        let err = parse(&["--interval", "1000years"]).unwrap_err();
        assert!(err.contains("limit of 365 days"), "{err}");
        assert!(parse(&["--debounce", "0s", "--interval", "30s"]).is_ok());
    }
}
