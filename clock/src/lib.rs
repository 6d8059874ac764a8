//! The lab clock: the one source of time for every TTL, rotation, key lifecycle date, fault window
//! and log timestamp in EKM Lab.
//!
//! Both the engine and the mock KMS read time only through [`Clock`], so a scenario can run a day
//! of key lifecycle in milliseconds ([`ManualClock`]) and a demo can run an hour a minute
//! ([`SystemClock`] with a speed factor). The crate is tiny on purpose: the mock KMS shares it
//! without depending on the engine.
//!
//! Two things are deliberately *not* lab time (DESIGN.md §5): request signatures (SigV4 skew) and
//! bearer-token lifetimes are checked against [`wall_time`], because the cloud SDKs cache their
//! credentials on real time; and call latencies are measured with a real [`Stopwatch`]. This module
//! is the only place allowed to read the operating system's clocks (enforced by clippy's
//! `disallowed-methods` in `clippy.toml`).
//!
//! Lab time never passes [`HORIZON`] (the start of year 9999): the calendar ends a year later, so
//! every date computed from lab time (a deletion window, a cache TTL, a token lifetime) stays
//! representable. [`Clock::try_advance`] refuses a jump past it; [`Clock::advance`], a scaled
//! [`SystemClock`] running on and [`ManualClock::advance_to`] stop at it. Nothing here panics.
//!
//! ```
//! use std::time::Duration;
//! use ekm_clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::default();
//! let start = clock.now();
//! clock.advance(Duration::from_secs(3600));
//! assert_eq!(clock.now() - start, time::Duration::hours(1));
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "the lab clock is the one place that reads the operating system's clocks"
)]

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;

/// The latest lab time: 9999-01-01T00:00:00Z, a year before the end of the calendar `time`
/// represents, so that dates computed from lab time stay representable.
pub const HORIZON: OffsetDateTime = time::macros::datetime!(9999-01-01 00:00:00 UTC);

/// A clock change that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// The jump would carry lab time past [`HORIZON`].
    #[error(
        "advancing the lab clock by {by:?} from {now} would pass its horizon {HORIZON}; \
         advance by at most {room:?}"
    )]
    PastHorizon {
        /// Lab time when the jump was asked for.
        now: OffsetDateTime,
        /// The jump asked for.
        by: Duration,
        /// How far the clock can still go.
        room: Duration,
    },
}

/// `at + by`, or why not: past [`HORIZON`] (or beyond what `time` can represent).
pub fn checked_later(at: OffsetDateTime, by: Duration) -> Result<OffsetDateTime, ClockError> {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by))
        .filter(|later| *later <= HORIZON)
        .ok_or(ClockError::PastHorizon {
            now: at,
            by,
            room: room_before_horizon(at),
        })
}

/// `at + by`, stopping at [`HORIZON`].
fn saturating_later(at: OffsetDateTime, by: Duration) -> OffsetDateTime {
    checked_later(at, by).unwrap_or(HORIZON.max(at))
}

/// How far lab time can still advance from `at`.
fn room_before_horizon(at: OffsetDateTime) -> Duration {
    Duration::try_from(HORIZON - at).unwrap_or_default()
}

/// A source of lab time.
///
/// Implementations are cheap to share (`Arc<dyn Clock>`) and never go backwards.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current lab time (UTC).
    fn now(&self) -> OffsetDateTime;

    /// Moves lab time forward by `by` ("jump +1 h"), stopping at [`HORIZON`]; the clock keeps
    /// running from there.
    fn advance(&self, by: Duration);

    /// Moves lab time forward by `by` and returns the new time, or refuses without moving when
    /// that would pass [`HORIZON`].
    fn try_advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError>;
}

/// A shared, dynamically typed clock, as the engine and the mock hold it.
pub type SharedClock = Arc<dyn Clock>;

/// Real time, optionally scaled (60× = an hour a minute), pausable and able to jump ahead.
///
/// Lab time starts at the real time of construction and then runs at `speed` times real time.
/// Changing the speed or pausing never makes lab time jump or go backwards.
pub struct SystemClock {
    state: Mutex<Anchor>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    real: Instant,
    lab: OffsetDateTime,
    speed: f64,
    paused: bool,
}

impl Anchor {
    fn lab_at(&self, real: Instant) -> OffsetDateTime {
        if self.paused {
            return self.lab;
        }
        let elapsed = real.saturating_duration_since(self.real).as_secs_f64() * self.speed;
        // A huge speed can make `elapsed` overflow any duration: then lab time is at its end.
        time::Duration::checked_seconds_f64(elapsed)
            .and_then(|elapsed| self.lab.checked_add(elapsed))
            .map_or(HORIZON, |lab| lab.min(HORIZON))
    }

    /// Re-anchors at `real` so that later changes apply from this point on.
    fn rebase(&mut self, real: Instant) {
        self.lab = self.lab_at(real);
        self.real = real;
    }
}

impl SystemClock {
    /// Real time at normal speed.
    pub fn new() -> Self {
        Self::with_speed(1.0)
    }

    /// Real time running `speed` times faster (e.g. `60.0` for demos). Non-finite or negative
    /// speeds are treated as 1.
    pub fn with_speed(speed: f64) -> Self {
        Self {
            state: Mutex::new(Anchor {
                real: Instant::now(),
                lab: wall_time(),
                speed: sanitize_speed(speed),
                paused: false,
            }),
        }
    }

    fn anchor(&self) -> MutexGuard<'_, Anchor> {
        // The anchor is plain data updated atomically under the lock: a panic elsewhere cannot
        // leave it half-written, so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current speed factor.
    pub fn speed(&self) -> f64 {
        self.anchor().speed
    }

    /// Changes the speed factor from now on. Non-finite or negative speeds are treated as 1.
    pub fn set_speed(&self, speed: f64) {
        let mut anchor = self.anchor();
        anchor.rebase(Instant::now());
        anchor.speed = sanitize_speed(speed);
    }

    /// Whether lab time is currently stopped.
    pub fn is_paused(&self) -> bool {
        self.anchor().paused
    }

    /// Stops (`true`) or restarts (`false`) lab time.
    pub fn set_paused(&self, paused: bool) {
        let mut anchor = self.anchor();
        anchor.rebase(Instant::now());
        anchor.paused = paused;
    }
}

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed >= 0.0 {
        speed
    } else {
        1.0
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        self.anchor().lab_at(Instant::now())
    }

    fn advance(&self, by: Duration) {
        let mut anchor = self.anchor();
        anchor.rebase(Instant::now());
        anchor.lab = saturating_later(anchor.lab, by);
    }

    fn try_advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError> {
        let mut anchor = self.anchor();
        anchor.rebase(Instant::now());
        anchor.lab = checked_later(anchor.lab, by)?;
        Ok(anchor.lab)
    }
}

impl fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let anchor = *self.anchor();
        f.debug_struct("SystemClock")
            .field("now", &anchor.lab_at(Instant::now()))
            .field("speed", &anchor.speed)
            .field("paused", &anchor.paused)
            .finish()
    }
}

/// Simulated time that moves only when told to: the clock of tests and scenarios.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at `start` (at most [`HORIZON`]).
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start.min(HORIZON)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OffsetDateTime> {
        // A plain value: a panic elsewhere cannot leave it half-written.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the clock to `to` (at most [`HORIZON`]) if that is later than now; earlier times are
    /// ignored, so the clock never goes backwards. Returns the resulting time.
    pub fn advance_to(&self, to: OffsetDateTime) -> OffsetDateTime {
        let mut now = self.lock();
        *now = (*now).max(to.min(HORIZON));
        *now
    }
}

impl Default for ManualClock {
    /// A fixed, readable start: 2026-01-01T00:00:00Z, so runs and snapshots are reproducible.
    fn default() -> Self {
        Self::starting_at(time::macros::datetime!(2026-01-01 00:00:00 UTC))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }

    fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = saturating_later(*now, by);
    }

    fn try_advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError> {
        let mut now = self.lock();
        *now = checked_later(*now, by)?;
        Ok(*now)
    }
}

/// Real wall-clock time (UTC), for what must follow real time even in a simulated lab: SigV4
/// request-date skew and bearer-token expiry, which the cloud SDKs track on real time.
pub fn wall_time() -> OffsetDateTime {
    OffsetDateTime::from(SystemTime::now())
}

/// Measures real elapsed time, e.g. the latency of one KMS round trip.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring real time from now (never lab time: a manual clock does not move it).
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Real time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::default();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - t0, time::Duration::seconds(90));
    }

    #[test]
    fn manual_clock_never_goes_backwards() {
        let clock = ManualClock::default();
        let t0 = clock.now();
        assert_eq!(clock.advance_to(t0 - time::Duration::hours(1)), t0);
        let later = t0 + time::Duration::minutes(5);
        assert_eq!(clock.advance_to(later), later);
    }

    #[test]
    fn paused_system_clock_stands_still_and_jumps_on_advance() {
        let clock = SystemClock::with_speed(1000.0);
        clock.set_paused(true);
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.now() - t0, time::Duration::hours(1));
        assert!(clock.is_paused());
    }

    #[test]
    fn no_clock_passes_the_horizon_or_panics_trying() {
        let century = Duration::from_secs(100 * 366 * 24 * 3600);
        let manual = ManualClock::default();
        let system = SystemClock::with_speed(1.0);
        let clocks: [&dyn Clock; 2] = [&manual, &system];
        for clock in clocks {
            let mut refused = None;
            for _ in 0..100 {
                if let Err(error) = clock.try_advance(century) {
                    refused = Some(error);
                    break;
                }
            }
            let Some(ClockError::PastHorizon { room, .. }) = refused else {
                panic!("8000 years of jumps were all accepted");
            };
            assert!(room < century);
            assert!(clock.now() <= HORIZON);
            clock.advance(Duration::MAX);
            assert_eq!(clock.now(), HORIZON);
            assert!(clock.try_advance(Duration::from_secs(1)).is_err());
            assert_eq!(clock.try_advance(Duration::ZERO), Ok(HORIZON));
        }
        assert_eq!(
            manual.advance_to(OffsetDateTime::new_utc(
                time::Date::MAX,
                time::Time::MIDNIGHT
            )),
            HORIZON
        );
        assert_eq!(
            ManualClock::starting_at(time::macros::datetime!(9999-12-31 00:00 UTC)).now(),
            HORIZON
        );
    }

    #[test]
    fn an_absurd_speed_ends_at_the_horizon_without_panic() {
        let clock = SystemClock::with_speed(f64::MAX);
        assert_eq!(clock.now(), HORIZON);
        clock.set_speed(1.0);
        assert_eq!(clock.now(), HORIZON);
    }

    #[test]
    fn speed_changes_do_not_move_time_backwards() {
        let clock = SystemClock::with_speed(60.0);
        let before = clock.now();
        clock.set_speed(0.5);
        assert!(clock.now() >= before);
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 1.0);
    }
}
