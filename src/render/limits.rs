//! What one render may spend: how long it may run, how many bytes its helm and kustomize
//! processes may print, how many objects it may produce. A repository is someone else's input:
//! a chart whose repository never answers, or ten kilobytes of templates printing hundreds of
//! megabytes, must fail the one render, never stall or exhaust the process running it.
//!
//! The operator sets the limits (`--render-timeout`, `--max-render-bytes`,
//! `--max-render-objects`); a GitSync may ask for its own through `spec.renderLimits`, never
//! above the controller's. A render spends against its `Budget`, shared by every child process
//! it starts.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a render may run by default: fetching a chart's dependencies from a slow
/// repository fits, a hung one does not.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// How many bytes a render may read from helm and kustomize by default. Parsed, objects take
/// about three times their YAML, so this keeps a render's peak far below a 512 MiB container.
pub const DEFAULT_MAX_BYTES: u64 = 32 * MIB;

/// How many objects a render may produce by default.
pub const DEFAULT_MAX_OBJECTS: usize = 10_000;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The three limits of one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the start of the render to the end of its last child process.
    pub timeout: Duration,
    /// Bytes read from the standard output of every helm and kustomize process, together.
    pub max_bytes: u64,
    /// Objects rendered, together.
    pub max_objects: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            max_objects: DEFAULT_MAX_OBJECTS,
        }
    }
}

/// What a GitSync asks for in `spec.renderLimits`; unset fields take the controller's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requested {
    pub timeout: Option<Duration>,
    pub max_bytes: Option<u64>,
    pub max_objects: Option<usize>,
}

/// Who set a render's limits, which decides how a message says to raise one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetBy {
    /// The command's own flags.
    #[default]
    Flags,
    /// A GitSync's `spec.renderLimits`, each held to the controller's flag (`ceiling`).
    GitSync { ceiling: Limits },
}

/// A render's limits and who set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderLimits {
    pub limits: Limits,
    pub set_by: SetBy,
}

impl RenderLimits {
    /// The limits a command's flags set.
    pub fn from_flags(limits: Limits) -> Self {
        RenderLimits {
            limits,
            set_by: SetBy::Flags,
        }
    }

    /// A GitSync's limits: what it asks for, each at most the operator's (`ceiling`), which
    /// also stands for what it leaves unset.
    pub fn for_sync(requested: Requested, ceiling: Limits) -> Self {
        RenderLimits {
            limits: Limits {
                timeout: requested
                    .timeout
                    .map_or(ceiling.timeout, |t| t.min(ceiling.timeout)),
                max_bytes: requested
                    .max_bytes
                    .map_or(ceiling.max_bytes, |b| b.min(ceiling.max_bytes)),
                max_objects: requested
                    .max_objects
                    .map_or(ceiling.max_objects, |o| o.min(ceiling.max_objects)),
            },
            set_by: SetBy::GitSync { ceiling },
        }
    }

    /// How to raise `limit`, as the one who set it can.
    fn raise(&self, limit: Limit) -> String {
        let (flag, field) = limit.names();
        match self.set_by {
            SetBy::Flags => format!("raise it with {flag}"),
            SetBy::GitSync { ceiling } => {
                if limit.value(&self.limits) < limit.value(&ceiling) {
                    format!(
                        "raise it with spec.renderLimits.{field} (the controller allows up to \
                         {})",
                        limit.show(&ceiling)
                    )
                } else {
                    format!(
                        "that is the most the controller allows (its {flag}); its operator can \
                         raise it"
                    )
                }
            }
        }
    }

    /// Why a render stopped at `limit`: the limit, its value and how to raise it.
    pub(crate) fn hit(&self, limit: Limit) -> Exceeded {
        Exceeded {
            limit,
            value: limit.show(&self.limits),
            raise: self.raise(limit),
        }
    }
}

/// One of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Timeout,
    Bytes,
    Objects,
}

impl Limit {
    /// The controller's flag and the GitSync's field under `spec.renderLimits`.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Limit::Timeout => ("--render-timeout", "timeout"),
            Limit::Bytes => ("--max-render-bytes", "maxBytes"),
            Limit::Objects => ("--max-render-objects", "maxObjects"),
        }
    }

    /// The limit's value in `limits`, comparable with another's.
    fn value(self, limits: &Limits) -> u128 {
        match self {
            Limit::Timeout => limits.timeout.as_millis(),
            Limit::Bytes => u128::from(limits.max_bytes),
            Limit::Objects => limits.max_objects as u128,
        }
    }

    /// The limit's value in `limits`, as a flag or field would spell it.
    fn show(self, limits: &Limits) -> String {
        match self {
            Limit::Timeout => humantime::format_duration(limits.timeout).to_string(),
            Limit::Bytes => format_bytes(limits.max_bytes),
            Limit::Objects => limits.max_objects.to_string(),
        }
    }
}

/// A limit a render reached: what the message of the stopped render says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: Limit,
    /// The limit's value, spelled as it is set.
    pub value: String,
    /// How to raise it.
    pub raise: String,
}

impl Exceeded {
    /// The sentence after "was stopped:" (or after the objects' count).
    pub fn explain(&self) -> String {
        match self.limit {
            Limit::Timeout => format!(
                "the render did not finish within its deadline of {}; {}",
                self.value, self.raise
            ),
            Limit::Bytes => format!(
                "it printed more than {}, the most a render may read from helm and kustomize; {}",
                self.value, self.raise
            ),
            Limit::Objects => format!(
                "more than {} objects, the most one render may produce; {}",
                self.value, self.raise
            ),
        }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain())
    }
}

/// What one render has left: its deadline, and the bytes its child processes may still print.
/// Shared by the threads that build a render's kustomizations at once.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: RenderLimits,
    deadline: Option<Instant>,
    read: AtomicU64,
}

impl Budget {
    /// A budget starting now.
    pub(crate) fn start(limits: RenderLimits) -> Self {
        Budget {
            limits,
            // A deadline past what the clock can hold is no deadline.
            deadline: Instant::now().checked_add(limits.limits.timeout),
            read: AtomicU64::new(0),
        }
    }

    /// Whether the render's time is up.
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The time the render has left; `None` without a deadline.
    pub(crate) fn remaining(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Counts `bytes` more read; false once the render has read more than it may.
    pub(crate) fn charge(&self, bytes: usize) -> bool {
        let bytes = bytes as u64;
        let before = self.read.fetch_add(bytes, Ordering::Relaxed);
        before.saturating_add(bytes) <= self.limits.limits.max_bytes
    }

    /// Gives back `bytes` read and then thrown away (a build run again another way).
    pub(crate) fn refund(&self, bytes: usize) {
        let bytes = bytes as u64;
        let _ = self
            .read
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |read| {
                Some(read.saturating_sub(bytes))
            });
    }

    /// Why the render stops at `limit`.
    pub(crate) fn hit(&self, limit: Limit) -> Exceeded {
        self.limits.hit(limit)
    }
}

/// A byte count as the flags and fields take it: `512`, `64Ki`, `32Mi`, `1Gi` (powers of
/// 1024, as Kubernetes quantities) or `500k`, `20M`, `1G` (powers of 1000).
pub fn parse_bytes(text: &str) -> Result<u64, NotASize> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let multiplier: u64 = match unit {
        "" => 1,
        "Ki" => KIB,
        "Mi" => MIB,
        "Gi" => 1024 * MIB,
        "k" => 1000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => {
            return Err(NotASize::Unit {
                text: text.to_string(),
            });
        }
    };
    let number: u64 = number.parse().map_err(|_| NotASize::Number {
        text: text.to_string(),
    })?;
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| NotASize::TooLarge {
            text: text.to_string(),
        })?;
    if bytes == 0 {
        return Err(NotASize::Zero);
    }
    Ok(bytes)
}

/// Why a byte count (`--max-render-bytes`, `spec.renderLimits.maxBytes`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotASize {
    #[error(
        "{text:?} is not a size (a number of bytes, or with a unit: 64Ki, 32Mi, 1Gi, 500k, 20M)"
    )]
    Unit { text: String },
    #[error("{text:?} is not a size (expected a whole number, e.g. 32Mi)")]
    Number { text: String },
    #[error("{text:?} is too large")]
    TooLarge { text: String },
    #[error("must be more than zero bytes")]
    Zero,
}

/// `bytes` in the largest binary unit that divides it: `32Mi`, `1536Ki`, `1000`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, size) in [("Gi", 1024 * MIB), ("Mi", MIB), ("Ki", KIB)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_in_binary_and_decimal_units() {
        assert_eq!(parse_bytes("32Mi"), Ok(32 * MIB));
        assert_eq!(parse_bytes("64Ki"), Ok(64 * KIB));
        assert_eq!(parse_bytes("1Gi"), Ok(1024 * MIB));
        assert_eq!(parse_bytes("20M"), Ok(20_000_000));
        assert_eq!(parse_bytes("512"), Ok(512));
        for bad in [
            "",
            "Mi",
            "-1Mi",
            "1.5Mi",
            "1MB",
            "0",
            "99999999999999999999Gi",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn sizes_are_shown_as_they_are_written() {
        assert_eq!(format_bytes(32 * MIB), "32Mi");
        assert_eq!(format_bytes(1536 * KIB), "1536Ki");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(
            parse_bytes(&format_bytes(DEFAULT_MAX_BYTES)),
            Ok(DEFAULT_MAX_BYTES)
        );
    }

    #[test]
    fn a_sync_gets_what_it_asks_for_up_to_the_operators_limits() {
        let ceiling = Limits {
            timeout: Duration::from_secs(120),
            max_bytes: 16 * MIB,
            max_objects: 500,
        };
        let limits = RenderLimits::for_sync(
            Requested {
                timeout: Some(Duration::from_secs(10)),
                max_bytes: Some(64 * MIB),
                max_objects: None,
            },
            ceiling,
        );
        assert_eq!(
            limits.limits,
            Limits {
                timeout: Duration::from_secs(10),
                max_bytes: 16 * MIB,
                max_objects: 500,
            }
        );
    }

    #[test]
    fn the_message_says_how_to_raise_a_limit_to_whoever_set_it() {
        let flags = RenderLimits::from_flags(Limits::default());
        assert_eq!(
            flags.hit(Limit::Bytes).to_string(),
            "it printed more than 32Mi, the most a render may read from helm and kustomize; \
             raise it with --max-render-bytes"
        );
        let ceiling = Limits::default();
        let lower = RenderLimits::for_sync(
            Requested {
                timeout: Some(Duration::from_secs(5)),
                ..Requested::default()
            },
            ceiling,
        );
        let text = lower.hit(Limit::Timeout).to_string();
        assert!(text.contains("deadline of 5s"), "{text}");
        assert!(
            text.contains(
                "raise it with spec.renderLimits.timeout (the controller allows up to 3m)"
            ),
            "{text}"
        );
        let text = lower.hit(Limit::Objects).to_string();
        assert!(
            text.contains("most the controller allows (its --max-render-objects)"),
            "{text}"
        );
    }

    #[test]
    fn a_budget_counts_every_child_of_the_render_together() {
        let budget = Budget::start(RenderLimits::from_flags(Limits {
            max_bytes: 100,
            ..Limits::default()
        }));
        assert!(budget.charge(60));
        assert!(!budget.charge(41));
        budget.refund(41);
        assert!(budget.charge(40));
        assert!(!budget.expired());
    }

    #[test]
    fn a_budget_with_no_time_left_has_expired() {
        let budget = Budget::start(RenderLimits::from_flags(Limits {
            timeout: Duration::ZERO,
            ..Limits::default()
        }));
        assert!(budget.expired());
        let endless = Budget::start(RenderLimits::from_flags(Limits {
            timeout: Duration::MAX,
            ..Limits::default()
        }));
        assert!(!endless.expired());
    }
}
