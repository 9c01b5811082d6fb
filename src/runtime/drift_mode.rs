//! What a reconciler does about drift (a managed object changed outside git): put it back, or
//! only report it. One setting per sync, so a controller of many syncs can hold one each.

use std::fmt;
use std::str::FromStr;

/// `--drift`: what a reconcile does with changes made in the cluster outside git.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Put drift back: apply git over every change made outside it (the default).
    #[default]
    Heal,
    /// Record drift (status, Event, metric) and leave it as it is. Changes git brings (a new
    /// commit that renders an object differently, a new object, an object that left git)
    /// still apply; an object git changes is applied whole, so its drift goes with it.
    Report,
}

impl DriftMode {
    /// As `--drift` and the status ConfigMap spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMode::Heal => "heal",
            DriftMode::Report => "report",
        }
    }
}

impl fmt::Display for DriftMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DriftMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "heal" => Ok(DriftMode::Heal),
            "report" => Ok(DriftMode::Report),
            other => Err(format!(
                "unknown drift mode {other:?} (expected heal or report)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_back_as_written_and_heal_is_the_default() {
        for mode in [DriftMode::Heal, DriftMode::Report] {
            assert_eq!(mode.as_str().parse::<DriftMode>(), Ok(mode));
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
        assert_eq!(DriftMode::default(), DriftMode::Heal);
        assert!("Heal".parse::<DriftMode>().is_err());
    }
}
