//! Sign-in sessions on lab time: how long each cloud's sessions live, and when one has expired.
//!
//! Every session the mock issues to the EKM service — an AWS role session (`AssumeRole`), a GCP
//! federated or impersonated access token, an Entra access token — remembers its **lab-clock**
//! issue and expiry beside the wall-clock expiry the SDKs read from the answer (their caches run
//! on real time). Admission refuses a session past its lab expiry with the cloud's own
//! expired-token error, so a simulated day needs a day's sign-ins.
//!
//! Lifetimes (DESIGN.md §9), configurable in `--config` as `tenant.sessions` (seconds):
//! - `aws: 3600` — the session length when `AssumeRole` names no `DurationSeconds` (AWS's
//!   default; a request may ask for 900–43200 s, as AWS allows up to the role's maximum).
//! - `gcp: 3600` — the STS federated token (`expires_in`) and the default `generateAccessToken`
//!   lifetime (a request may ask for less, up to 3600 s).
//! - `azure: 3599` — the Entra access token. Entra's real default is random between 60 and 90
//!   minutes; the lab picks the fixed lower end, as its `expires_in` always said (3599 s), so a
//!   run is reproducible and the bound it shows is the tightest real one.
//!
//! Removing trust (the role's trust policy, the workload-identity provider, the service
//! principal) stops *new* sign-ins only: issued sessions live to their expiry, as on the real
//! clouds. Revoking them is its own action (`revoke-sessions`, [`crate::state::Kms::apply`]).

use std::time::Duration;

use ekm_vocab::Cloud;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most seconds any lifetime may be set to (AWS's 12-hour maximum session).
const MAX_SECONDS: u32 = 43_200;

/// Session lifetimes per cloud, in seconds (`tenant.sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLifetimes")]
pub struct SessionLifetimes {
    /// An AWS role session when `AssumeRole` names no `DurationSeconds`.
    pub aws: u32,
    /// A GCP federated access token (and the default impersonated one).
    pub gcp: u32,
    /// An Entra access token.
    pub azure: u32,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            aws: 3600,
            gcp: 3600,
            azure: 3599,
        }
    }
}

/// The lifetimes as written, before their ranges are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLifetimes {
    aws: u32,
    gcp: u32,
    azure: u32,
}

impl Default for RawLifetimes {
    fn default() -> Self {
        let d = SessionLifetimes::default();
        Self {
            aws: d.aws,
            gcp: d.gcp,
            azure: d.azure,
        }
    }
}

impl TryFrom<RawLifetimes> for SessionLifetimes {
    type Error = String;

    fn try_from(raw: RawLifetimes) -> Result<Self, String> {
        let ranges = [
            ("aws", raw.aws, 900, "AWS sessions last 900-43200 s"),
            ("gcp", raw.gcp, 60, "GCP tokens: 60-43200 s"),
            ("azure", raw.azure, 300, "Entra tokens: 300-43200 s"),
        ];
        for (name, value, min, hint) in ranges {
            if !(min..=MAX_SECONDS).contains(&value) {
                return Err(format!(
                    "tenant.sessions.{name}: {value} seconds is out of range ({hint}; e.g. 3600)"
                ));
            }
        }
        Ok(Self {
            aws: raw.aws,
            gcp: raw.gcp,
            azure: raw.azure,
        })
    }
}

impl SessionLifetimes {
    /// The default lifetime of `cloud`'s sessions.
    pub fn of(&self, cloud: Cloud) -> Duration {
        Duration::from_secs(u64::from(match cloud {
            Cloud::Aws => self.aws,
            Cloud::Gcp => self.gcp,
            Cloud::Azure => self.azure,
        }))
    }
}

/// A session's lab-clock life: issued at `issued`, dead from `expires` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabLife {
    /// Lab time of issue.
    pub issued: OffsetDateTime,
    /// Lab time from which it is expired.
    pub expires: OffsetDateTime,
}

impl LabLife {
    /// A session issued at lab time `issued` that lives `lifetime`.
    pub fn starting(issued: OffsetDateTime, lifetime: Duration) -> Self {
        Self {
            issued,
            expires: issued + lifetime,
        }
    }

    /// Whether it has expired at lab time `now`.
    pub fn expired_at(&self, now: OffsetDateTime) -> bool {
        now >= self.expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_each_clouds_and_ranges_are_checked() {
        let defaults = SessionLifetimes::default();
        assert_eq!(defaults.of(Cloud::Aws), Duration::from_secs(3600));
        assert_eq!(defaults.of(Cloud::Gcp), Duration::from_secs(3600));
        assert_eq!(defaults.of(Cloud::Azure), Duration::from_secs(3599));
        let parsed: SessionLifetimes = serde_yaml::from_str("{ azure: 5400 }").unwrap();
        assert_eq!(parsed.azure, 5400);
        assert_eq!(parsed.aws, 3600);
        for bad in [
            "{ aws: 899 }",
            "{ gcp: 0 }",
            "{ azure: 43201 }",
            "{ okta: 1 }",
        ] {
            let error = serde_yaml::from_str::<SessionLifetimes>(bad).unwrap_err();
            assert!(!error.to_string().is_empty(), "{bad}");
        }
        let error = serde_yaml::from_str::<SessionLifetimes>("{ aws: 60 }").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("tenant.sessions.aws: 60 seconds"),
            "{error}"
        );
    }

    #[test]
    fn a_life_ends_at_its_expiry_exactly() {
        let t0 = time::macros::datetime!(2026-01-01 00:00 UTC);
        let life = LabLife::starting(t0, Duration::from_secs(3600));
        assert!(!life.expired_at(t0));
        assert!(!life.expired_at(t0 + Duration::from_secs(3599)));
        assert!(life.expired_at(t0 + Duration::from_secs(3600)));
    }
}
