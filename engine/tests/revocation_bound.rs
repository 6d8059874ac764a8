//! Property test of the revocation bound (DESIGN.md §2): random schedules of seals, opens,
//! revocations of every kind, restores, outages, throttling, sweeps and clock jumps against an
//! in-memory KEK on a manual clock, checked after every event:
//! - no open or seal succeeds later than `revocation + revalidate_after + one tick`;
//! - no operation fails while no revocation or fault is in force;
//! - every plaintext read back is the one sealed;
//! - no snapshot shows an entry past its expiry.

mod common;

use std::time::Duration;

use common::{HOUR, Lab, SECOND};
use ekm_engine::clock::Clock;
use ekm_engine::provider::memory::MemoryKeyState;
use ekm_engine::{EngineConfig, RetryPolicy};
use proptest::prelude::*;
use time::OffsetDateTime;

/// How late past `revocation + revalidate_after` an operation may still succeed: one sweep tick.
const TICK: Duration = SECOND;

#[derive(Debug, Clone)]
enum Event {
    Seal(u8),
    Open(usize),
    RevokeAccess,
    Disable,
    Destroy,
    Restore,
    Outage(bool),
    Throttle(u32),
    CustomerRotation,
    Sweep,
    Advance(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => any::<u8>().prop_map(Event::Seal),
        6 => any::<usize>().prop_map(Event::Open),
        1 => Just(Event::RevokeAccess),
        1 => Just(Event::Disable),
        1 => Just(Event::Destroy),
        2 => Just(Event::Restore),
        2 => any::<bool>().prop_map(Event::Outage),
        1 => (1u32..4).prop_map(Event::Throttle),
        1 => Just(Event::CustomerRotation),
        1 => Just(Event::Sweep),
        // Mostly small steps around the TTL, sometimes a jump over a day.
        5 => prop_oneof![0u64..600, 3000u64..4000, 0u64..100_000].prop_map(Event::Advance),
    ]
}

/// What is in force, as the model sees it.
#[derive(Default)]
struct Model {
    /// Since when a revocation has been continuously in force.
    revoked_since: Option<OffsetDateTime>,
    destroyed: bool,
    access: bool,
    disabled: bool,
    outage: bool,
    /// KMS calls still to be throttled, and the call count when that was set.
    throttled: u64,
    calls_at_throttle: u64,
    sealed: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Model {
    fn revoked(&self) -> bool {
        self.destroyed || !self.access || self.disabled
    }

    fn update_revocation(&mut self, now: OffsetDateTime) {
        match (self.revoked(), self.revoked_since) {
            (true, None) => self.revoked_since = Some(now),
            (false, Some(_)) => self.revoked_since = None,
            _ => {}
        }
    }

    fn throttling(&self, calls: u64) -> bool {
        calls.saturating_sub(self.calls_at_throttle) < self.throttled
    }
}

fn run(events: Vec<Event>) -> Result<(), TestCaseError> {
    let revalidate_after = HOUR;
    let lab = Lab::with_config(EngineConfig {
        dek_rotation: 3 * HOUR,
        revalidate_after,
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_micros(100),
            max_backoff: Duration::from_micros(200),
            max_total_backoff: Duration::from_millis(1),
        },
        ..EngineConfig::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let calls = || lab.kek.wrap_calls() + lab.kek.unwrap_calls();
    let mut model = Model {
        access: true,
        ..Model::default()
    };
    for event in events {
        let now = lab.clock.now();
        let calls_before = calls();
        let fault_before = model.outage || model.throttling(calls_before);
        let outcome: Option<Result<(), String>> = match event {
            Event::Seal(byte) => {
                let plaintext = vec![byte; usize::from(byte) % 97];
                let sealed =
                    runtime.block_on(lab.engine.seal(&lab.project, &lab.context, &plaintext));
                Some(
                    sealed
                        .map(|envelope| model.sealed.push((envelope, plaintext)))
                        .map_err(|e| e.to_string()),
                )
            }
            Event::Open(pick) if !model.sealed.is_empty() => {
                let (envelope, plaintext) = &model.sealed[pick % model.sealed.len()];
                let opened = runtime.block_on(lab.open(envelope));
                if let Ok(read) = &opened {
                    prop_assert_eq!(read, plaintext, "the plaintext read back is the one sealed");
                }
                Some(opened.map(drop).map_err(|e| e.to_string()))
            }
            Event::Open(_) => None,
            Event::RevokeAccess => {
                lab.kek.set_access(false);
                model.access = false;
                None
            }
            Event::Disable => {
                lab.kek.set_state(MemoryKeyState::Disabled);
                model.disabled = true;
                None
            }
            Event::Destroy => {
                lab.kek.set_state(MemoryKeyState::Destroyed);
                model.destroyed = true;
                None
            }
            Event::Restore => {
                lab.kek.set_access(true);
                model.access = true;
                if !model.destroyed {
                    lab.kek.set_state(MemoryKeyState::Enabled);
                    model.disabled = false;
                }
                None
            }
            Event::Outage(on) => {
                lab.kek.set_outage(on);
                model.outage = on;
                None
            }
            Event::Throttle(n) => {
                lab.kek.throttle_next(n, None);
                model.throttled = u64::from(n);
                model.calls_at_throttle = calls_before;
                None
            }
            Event::CustomerRotation => {
                lab.kek.rotate();
                None
            }
            Event::Sweep => {
                lab.engine.sweep();
                None
            }
            Event::Advance(seconds) => {
                lab.advance(Duration::from_secs(seconds));
                None
            }
        };
        model.update_revocation(lab.clock.now());
        let fault = fault_before || model.outage;
        match outcome {
            Some(Ok(())) => {
                if let Some(since) = model.revoked_since {
                    prop_assert!(
                        now < since + revalidate_after + TICK,
                        "{event:?} succeeded at {now}, revoked since {since}"
                    );
                }
            }
            Some(Err(error)) => prop_assert!(
                model.revoked() || fault || error.contains("throttled"),
                "{event:?} failed at {now} with nothing in force: {error}"
            ),
            None => {}
        }
        let snapshot = lab.engine.snapshot();
        prop_assert!(
            snapshot.entries.iter().all(|e| e.expires_at > snapshot.at),
            "a snapshot shows an expired entry: {snapshot:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_operation_outlives_the_revocation_bound(events in prop::collection::vec(event(), 1..60)) {
        run(events)?;
    }
}
