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

/// A source of lab time.
///
/// Implementations are cheap to share (`Arc<dyn Clock>`) and never go backwards.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current lab time (UTC).
    fn now(&self) -> OffsetDateTime;

    /// Moves lab time forward by `by` ("jump +1 h"); the clock keeps running from there.
    fn advance(&self, by: Duration);
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
        self.lab + time::Duration::seconds_f64(elapsed)
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
        anchor.lab += by;
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
    /// A clock standing at `start`.
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `to` if that is later than now; earlier times are ignored, so the clock
    /// never goes backwards. Returns the resulting time.
    pub fn advance_to(&self, to: OffsetDateTime) -> OffsetDateTime {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if to > *now {
            *now = to;
        }
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
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
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
    /// Starts measuring.
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
    fn speed_changes_do_not_move_time_backwards() {
        let clock = SystemClock::with_speed(60.0);
        let before = clock.now();
        clock.set_speed(0.5);
        assert!(clock.now() >= before);
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 1.0);
    }
}
