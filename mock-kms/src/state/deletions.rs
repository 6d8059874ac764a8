//! When the next scheduled deletion falls due, so that taking the state lock looks for keys
//! to destroy only once one may be due, not on every request: a fleet's mock holds thousands
//! of keys and answers every call under that lock.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

use super::KmsState;
use crate::keys::KeyState;

/// The earliest deletion date pending in the installed state — a key's or one of its
/// versions' — in whole Unix seconds rounded down, `i64::MAX` when none is pending. It is
/// read and set under the state lock only (the atomic is what makes it shareable), and set
/// again whenever a state is installed or settled, so a cancelled deletion is forgotten and
/// one scheduled earlier than the others is seen.
#[derive(Debug)]
pub(super) struct NextDeletion(AtomicI64);

impl Default for NextDeletion {
    /// None pending (the state of a new lab: no keys).
    fn default() -> Self {
        Self(AtomicI64::new(i64::MAX))
    }
}

impl NextDeletion {
    /// Keeps the bookkeeping of `state`, the state now installed.
    pub(super) fn update(&self, state: &KmsState) {
        self.0.store(due_second(state), Ordering::Relaxed);
    }

    /// Whether a deletion date may have passed at `now` (when it is false, none has).
    pub(super) fn may_be_due(&self, now: OffsetDateTime) -> bool {
        now.unix_timestamp() >= self.0.load(Ordering::Relaxed)
    }
}

/// The second of the earliest pending deletion date in `state`, `i64::MAX` for none.
fn due_second(state: &KmsState) -> i64 {
    state
        .keys
        .values()
        .flat_map(|key| std::iter::once(key.state).chain(key.versions.iter().map(|v| v.state)))
        .filter_map(|state| match state {
            KeyState::PendingDeletion { deletion_date } => Some(deletion_date.unix_timestamp()),
            _ => None,
        })
        .min()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ekm_clock::Clock;
    use ekm_vocab::{KeyAction, VersionAction};

    use crate::keys::KeyState;
    use crate::state::tests::demo_lab;
    use crate::state::{DELETION_WINDOW, Kms, VERSION_DESTROY_WINDOW};

    const DAY: Duration = Duration::from_secs(86_400);

    /// The state as stored (not as `key_info` reads it at the lab time): `Destroyed` only once
    /// the lock has settled it and dropped the material.
    fn stored(lab: &Kms, name: &str, version: usize) -> (KeyState, KeyState) {
        lab.read(|state| {
            let key = state.key(name).unwrap();
            (key.state, key.versions[version].state)
        })
    }

    #[test]
    fn a_deletion_scheduled_earlier_than_the_pending_ones_is_settled_on_its_date() {
        let (clock, lab) = demo_lab();
        assert!(!lab.next_deletion.may_be_due(clock.now() + DAY * 365 * 100));
        lab.apply("gcp-demo", KeyAction::Rotate).unwrap();
        lab.apply_version("gcp-demo", "1", VersionAction::Destroy)
            .unwrap();
        let version_due = clock.now() + VERSION_DESTROY_WINDOW;
        clock.advance(DAY);
        lab.apply("aws-demo", KeyAction::ScheduleDeletion).unwrap();
        let key_due = clock.now() + DELETION_WINDOW;
        assert!(key_due < version_due);
        assert!(lab.next_deletion.may_be_due(key_due));
        assert!(
            !lab.next_deletion
                .may_be_due(key_due - Duration::from_secs(1))
        );
        clock.advance_to(key_due);
        assert_eq!(stored(&lab, "aws-demo", 0).0, KeyState::Destroyed);
        assert!(matches!(
            stored(&lab, "gcp-demo", 0).1,
            KeyState::PendingDeletion { .. }
        ));
        assert!(
            !lab.next_deletion
                .may_be_due(version_due - Duration::from_secs(1))
        );
        clock.advance_to(version_due);
        assert_eq!(stored(&lab, "gcp-demo", 0).1, KeyState::Destroyed);
        assert!(!lab.next_deletion.may_be_due(version_due + DAY * 365 * 100));
    }

    #[test]
    fn a_cancelled_deletion_leaves_the_next_one_due() {
        let (clock, lab) = demo_lab();
        lab.apply("gcp-demo", KeyAction::Rotate).unwrap();
        lab.apply_version("gcp-demo", "1", VersionAction::Destroy)
            .unwrap();
        let cancelled = clock.now() + VERSION_DESTROY_WINDOW;
        clock.advance(DAY * 24);
        lab.apply("aws-demo", KeyAction::ScheduleDeletion).unwrap();
        let key_due = clock.now() + DELETION_WINDOW;
        assert!(cancelled < key_due);
        assert!(lab.next_deletion.may_be_due(cancelled));
        lab.apply_version("gcp-demo", "1", VersionAction::Restore)
            .unwrap();
        assert!(!lab.next_deletion.may_be_due(cancelled));
        clock.advance_to(cancelled);
        assert_eq!(stored(&lab, "gcp-demo", 0).1, KeyState::Disabled);
        assert!(matches!(
            stored(&lab, "aws-demo", 0).0,
            KeyState::PendingDeletion { .. }
        ));
        clock.advance_to(key_due);
        assert_eq!(stored(&lab, "aws-demo", 0).0, KeyState::Destroyed);
    }
}
