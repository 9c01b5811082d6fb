//! The blast-radius limit on prunes (`--max-prune`): how many members of the set one apply may
//! delete. Over the limit nothing is pruned at all; the rest of the plan is still applied.

use std::fmt;
use std::str::FromStr;

/// `--max-prune N`, `--max-prune P%` (of the set's members, rounded up) or
/// `--max-prune unlimited`. `0` allows no prune at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneLimit {
    /// No limit (apply's default: it shows the plan and asks).
    #[default]
    Unlimited,
    /// At most this many objects.
    Objects(usize),
    /// At most this share of the set's live members, in percent (0 to 100), rounded up.
    Percent(u8),
}

/// The reconciler's default: a quarter of the set per cycle. A commit that deletes more (a
/// directory moved, a kustomization emptied by mistake) waits for a person.
pub const RECONCILER_DEFAULT: PruneLimit = PruneLimit::Percent(25);

/// A plan prunes more than the limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the plan prunes {prunes} of the set's {members} members, more than --max-prune {limit} allows ({allowed})"
)]
pub struct PruneLimitExceeded {
    pub prunes: usize,
    pub members: usize,
    pub allowed: usize,
    pub limit: PruneLimit,
}

impl PruneLimit {
    /// How many prunes a set of `members` live members may have; `None` without a limit.
    pub fn allowed(self, members: usize) -> Option<usize> {
        match self {
            PruneLimit::Unlimited => None,
            PruneLimit::Objects(n) => Some(n),
            PruneLimit::Percent(p) => Some((members * usize::from(p)).div_ceil(100)),
        }
    }

    /// `Err` when `prunes` of a set with `members` members are over the limit.
    pub fn check(self, prunes: usize, members: usize) -> Result<(), PruneLimitExceeded> {
        match self.allowed(members) {
            Some(allowed) if prunes > allowed => Err(PruneLimitExceeded {
                prunes,
                members,
                allowed,
                limit: self,
            }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for PruneLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneLimit::Unlimited => f.write_str("unlimited"),
            PruneLimit::Objects(n) => write!(f, "{n}"),
            PruneLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for PruneLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let expected = "expected a number of objects (2), a share of the set's members (10%) \
                        or \"unlimited\"";
        if text.eq_ignore_ascii_case("unlimited") {
            return Ok(PruneLimit::Unlimited);
        }
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(PruneLimit::Percent(p)),
                Ok(_) => Err("a share may not exceed 100%".to_string()),
                Err(_) => Err(format!("{text:?}: {expected}")),
            };
        }
        text.parse::<usize>()
            .map(PruneLimit::Objects)
            .map_err(|_| format!("{text:?}: {expected}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_shares_and_unlimited() {
        assert_eq!("3".parse(), Ok(PruneLimit::Objects(3)));
        assert_eq!("0".parse(), Ok(PruneLimit::Objects(0)));
        assert_eq!("10%".parse(), Ok(PruneLimit::Percent(10)));
        assert_eq!(" 100% ".parse(), Ok(PruneLimit::Percent(100)));
        assert_eq!("Unlimited".parse(), Ok(PruneLimit::Unlimited));
        for bad in ["", "-1", "101%", "ten", "5.5", "%", "none"] {
            assert!(bad.parse::<PruneLimit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn prints_as_it_is_written() {
        for text in ["3", "10%", "unlimited"] {
            assert_eq!(text.parse::<PruneLimit>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_share_is_rounded_up_so_small_sets_can_still_prune_one() {
        assert_eq!(PruneLimit::Percent(25).allowed(3), Some(1));
        assert_eq!(PruneLimit::Percent(25).allowed(8), Some(2));
        assert_eq!(PruneLimit::Percent(25).allowed(9), Some(3));
        assert_eq!(PruneLimit::Percent(0).allowed(9), Some(0));
        assert_eq!(PruneLimit::Unlimited.allowed(9), None);
    }

    #[test]
    fn over_the_limit_is_refused_and_at_it_is_not() {
        assert!(PruneLimit::Objects(1).check(1, 5).is_ok());
        let refused = PruneLimit::Objects(1).check(2, 5).unwrap_err();
        assert_eq!(refused.allowed, 1);
        assert!(
            refused
                .to_string()
                .contains("prunes 2 of the set's 5 members")
        );
        assert!(PruneLimit::Objects(0).check(0, 5).is_ok());
        assert!(PruneLimit::Objects(0).check(1, 5).is_err());
        assert!(PruneLimit::Unlimited.check(1000, 5).is_ok());
    }
}
