//! Sign-in sessions renewed on the lab clock.
//!
//! Each provider signs in to its cloud (AWS `AssumeRole`, the GCP STS exchange, an Entra token)
//! through its SDK, whose credential cache runs on wall-clock time: on a simulated day it would
//! sign in once. The clouds end sessions on *their* clock — in the lab, the lab clock — so the
//! provider keeps the lab time it signed in at and, before a KMS call past the session's
//! lifetime less [`RENEW_MARGIN`], rebuilds its credentials so that call signs in again. The
//! SDKs' caches stay; the renewal comes from the engine's side, and a day of traffic shows a
//! day's sign-ins.
//!
//! [`with_session`] wraps each KMS call: the renewal when due, then the call, and — when the
//! call fails in a way new credentials could fix (a revoked or expired session) — one renewal
//! and one more attempt.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ekm_clock::SharedClock;
use time::OffsetDateTime;

use super::{CallFailure, KmsError};

/// How long before a session's end the provider signs in again.
pub const RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long after signing in a provider whose sessions live `lifetime` signs in again (on its
/// first KMS call from then on): [`RENEW_MARGIN`] before the end, or half-way for lifetimes
/// under twice the margin. The fleet forecast models the sign-ins with it.
pub fn renew_after(lifetime: Duration) -> Duration {
    if lifetime >= 2 * RENEW_MARGIN {
        lifetime - RENEW_MARGIN
    } else {
        lifetime / 2
    }
}

/// The lab time a provider signed in at, and when to sign in again.
#[derive(Debug)]
pub(crate) struct SessionClock {
    clock: SharedClock,
    renew_after: Duration,
    signed_in: Mutex<Option<OffsetDateTime>>,
}

impl SessionClock {
    /// Sessions that live `lifetime`, renewed [`RENEW_MARGIN`] before their end (half-way for
    /// lifetimes under twice the margin), on `clock`.
    pub(crate) fn new(clock: SharedClock, lifetime: Duration) -> Self {
        Self {
            clock,
            renew_after: renew_after(lifetime),
            signed_in: Mutex::new(None),
        }
    }

    /// Before a KMS call: whether the session in use is due for renewal. The first call signs
    /// in (the SDK fetches credentials lazily), so it starts the count.
    fn due(&self) -> bool {
        let now = self.clock.now();
        let mut signed_in = self
            .signed_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *signed_in {
            None => {
                *signed_in = Some(now);
                false
            }
            Some(at) => now >= at + self.renew_after,
        }
    }

    /// The credentials were just rebuilt: the next call signs in now.
    fn renewed(&self) {
        *self
            .signed_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.clock.now());
    }
}

/// Runs a KMS call under a live session: renews first when `session` is due, and when the call
/// fails in a way new credentials could fix, renews and tries once more.
///
/// A session revoked by the customer would otherwise keep failing after the trust is restored
/// (the SDK caches it, DESIGN.md §4); and a trust that is still revoked fails again at once, in
/// the renewal.
pub(crate) async fn with_session<T, E, A, AF, R, RF>(
    session: &SessionClock,
    attempt: A,
    renew: R,
) -> Result<T, KmsError>
where
    E: Into<CallFailure>,
    A: Fn() -> AF,
    AF: Future<Output = Result<T, E>>,
    R: Fn() -> RF,
    RF: Future<Output = Result<(), KmsError>>,
{
    if session.due() {
        renew().await?;
        session.renewed();
    }
    match attempt().await.map_err(Into::into) {
        Ok(value) => Ok(value),
        Err(failure) if failure.renew => {
            renew().await?;
            session.renewed();
            attempt().await.map_err(|e| e.into().error)
        }
        Err(failure) => Err(failure.error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ekm_clock::{Clock, ManualClock};

    use super::*;

    #[tokio::test]
    async fn a_day_of_calls_renews_once_per_session_on_the_lab_clock() {
        let clock = Arc::new(ManualClock::default());
        let hour = Duration::from_secs(3600);
        let session = SessionClock::new(clock.clone(), hour);
        let renewals = AtomicUsize::new(0);
        let call = || async { Ok::<_, KmsError>(()) };
        let renew = || async {
            renewals.fetch_add(1, Ordering::Relaxed);
            Ok(())
        };
        // A call every ten lab minutes for a day: a new session every 55 minutes at most,
        // so one renewal per hour of calls.
        for _ in 0..(24 * 6) {
            with_session(&session, call, renew).await.unwrap();
            clock.advance(Duration::from_secs(600));
        }
        assert_eq!(renewals.load(Ordering::Relaxed), 23);
    }

    #[test]
    fn short_lifetimes_renew_half_way_and_the_first_call_starts_the_count() {
        // (lifetime, lab seconds after the first call) → due?
        let table = [
            (3600, 3299, false),
            (3600, 3300, true),
            (600, 299, false),
            (600, 300, true),
        ];
        for (lifetime, after, due) in table {
            let clock = Arc::new(ManualClock::default());
            let session = SessionClock::new(clock.clone(), Duration::from_secs(lifetime));
            assert!(!session.due(), "the first call signs in");
            clock.advance(Duration::from_secs(after));
            assert_eq!(session.due(), due, "{lifetime} {after}");
        }
    }

    #[tokio::test]
    async fn an_authentication_failure_renews_and_retries_once() {
        let clock = Arc::new(ManualClock::default());
        let session = SessionClock::new(clock, Duration::from_secs(3600));
        let attempts = AtomicUsize::new(0);
        let renewals = AtomicUsize::new(0);
        let refused = || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>(KmsError::Authentication {
                message: "expired".into(),
            })
        };
        let renew = || async {
            renewals.fetch_add(1, Ordering::Relaxed);
            Ok(())
        };
        let error = with_session(&session, refused, renew).await.unwrap_err();
        assert!(error.is_authentication());
        assert_eq!(attempts.load(Ordering::Relaxed), 2);
        assert_eq!(renewals.load(Ordering::Relaxed), 1);
    }
}
