//! The customer's external key manager in a scenario: keys backed by an external key, the
//! customer disabling, enabling or deleting one in their own HSM (`external-key:`), the HSM
//! fleet's health (`hsm-fleet:`) and faults on the hop from the clouds to its proxy
//! (`hop-fault:`), the last two as fault windows.

use std::time::Duration;

use ekm_lab::{ExternalKeyAction, HopFaults};

use super::Playback;
use super::faults::Rule;
use super::outcome::Done;
use super::timers::RevocationCause;
use crate::schema::{ErrorKind, ExternalKeyStep, HopFault, HopFaultWord, HsmFleet, Vocabulary};

impl Playback {
    /// The external key backing lab key `key`, if it was declared with one.
    pub(super) fn external_key_of(&self, key: &str) -> Option<&str> {
        self.scenario
            .keys
            .iter()
            .find(|k| k.name == key)
            .and_then(|k| k.external_key.as_deref())
    }

    /// The declared keys backed by external key `id`.
    fn keys_backed_by(&self, id: &str) -> Vec<String> {
        self.scenario
            .keys
            .iter()
            .filter(|k| k.external_key.as_deref() == Some(id))
            .map(|k| k.name.clone())
            .collect()
    }

    /// `external-key:` — the customer acts in their own key manager; the cloud keys it backs
    /// are untouched in the cloud. Disabling or deleting revokes each of them (the
    /// `revocation_effective_within` invariant watches it); enabling undoes a disable.
    pub(super) fn external_key_action(&mut self, step: &ExternalKeyStep) -> Done {
        let Some(id) = self.external_key_of(&step.key).map(str::to_owned) else {
            return Done::failed(
                ErrorKind::Refused,
                format!("key `{}` is not backed by an external key", step.key),
            );
        };
        let action = step.action;
        let info = match self.lab.external_key_action(&id, action) {
            Ok(info) => info,
            Err(error) => return Done::failed(ErrorKind::Refused, error.to_string()),
        };
        let backed = self.keys_backed_by(&id);
        let word = step.action.word();
        for key in &backed {
            match action {
                ExternalKeyAction::Disable | ExternalKeyAction::Delete => self.revoke(
                    key,
                    RevocationCause::ExternalKey(action),
                    &format!("{word} external key {id} (backs {key})"),
                ),
                ExternalKeyAction::Enable => {
                    self.undo(
                        key,
                        RevocationCause::ExternalKey(ExternalKeyAction::Disable),
                    );
                }
            }
        }
        let states: Vec<String> = backed
            .iter()
            .map(|key| match self.lab.key(key) {
                Ok(cloud) => format!("{key} still {} in {}", cloud.state, cloud.provider),
                Err(error) => format!("{key}: {error}"),
            })
            .collect();
        Done::ok(format!(
            "external key {id}: {:?}; {}",
            info.status,
            states.join(", ")
        ))
    }

    /// `hsm-fleet:` — the whole fleet reports `status` until the window ends.
    pub(super) fn hsm_fleet(&mut self, fleet: &HsmFleet) -> Done {
        let label = format!("HSM fleet {}", fleet.status);
        self.open_window(Rule::Fleet(fleet.status), label, fleet.window)
    }

    /// `hop-fault:` — one fault on the hop until the window ends. Faults add up while their
    /// windows overlap, except that the proxy answers one kind of failure at a time.
    pub(super) fn hop_fault(&mut self, fault: &HopFault) -> Done {
        let fails = |f: &HopFault| matches!(f.fault, HopFaultWord::Error | HopFaultWord::Malformed);
        if fails(fault)
            && let Some(other) = self.hop_faults_in_force().find(|f| fails(f))
        {
            return Done::failed(
                ErrorKind::Refused,
                format!(
                    "the hop already answers {} until its window ends; one failing-reply fault \
                     at a time",
                    describe_hop_fault(other)
                ),
            );
        }
        let label = format!("{} on the external key hop", describe_hop_fault(fault));
        self.open_window(Rule::Hop(fault.clone()), label, fault.window)
    }
}

/// The mock's hop settings for the faults in force (latencies add up).
pub(super) fn hop_faults<'a>(faults: impl Iterator<Item = &'a HopFault>) -> HopFaults {
    let mut merged = HopFaults::default();
    for fault in faults {
        match fault.fault {
            HopFaultWord::Latency => merged.latency_ms += fault.ms.unwrap_or(0),
            HopFaultWord::Error => {
                merged.error = fault.error.map(|e| e.0);
                merged.probability = fault.rate;
            }
            HopFaultWord::Malformed => {
                merged.malformed = true;
                merged.probability = fault.rate;
            }
            HopFaultWord::Unreachable => merged.unreachable = true,
            HopFaultWord::WrongCredentials => merged.reject_credentials = true,
        }
    }
    merged.latency_ms = merged.latency_ms.min(60_000);
    merged
}

/// A hop fault in words (`400 ms latency`, `25% ThrottlingException`).
pub(super) fn describe_hop_fault(fault: &HopFault) -> String {
    let rate = |r: Option<f64>| match r {
        Some(r) if r < 1.0 => format!("{}% ", r * 100.0),
        _ => String::new(),
    };
    match fault.fault {
        HopFaultWord::Latency => {
            let ms = Duration::from_millis(fault.ms.unwrap_or(0));
            format!("{} ms latency", ms.as_millis())
        }
        HopFaultWord::Error => format!(
            "{}{}",
            rate(fault.rate),
            fault.error.map_or("an error", |e| e.0.as_str())
        ),
        HopFaultWord::Malformed => format!("{}malformed replies", rate(fault.rate)),
        HopFaultWord::Unreachable => "an unreachable proxy".to_owned(),
        HopFaultWord::WrongCredentials => "refused credentials".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::HopError;
    use crate::time::LabDuration;

    fn fault(fault: HopFaultWord, ms: Option<u64>, rate: Option<f64>) -> HopFault {
        HopFault {
            fault,
            ms,
            error: (fault == HopFaultWord::Error)
                .then_some(HopError(ekm_lab::HopErrorName::ThrottlingException)),
            rate,
            window: LabDuration(Duration::from_secs(60)),
        }
    }

    #[test]
    fn overlapping_hop_faults_add_up() {
        let faults = [
            fault(HopFaultWord::Latency, Some(100), None),
            fault(HopFaultWord::Latency, Some(400), None),
            fault(HopFaultWord::Error, None, Some(0.25)),
            fault(HopFaultWord::WrongCredentials, None, None),
        ];
        let merged = hop_faults(faults.iter());
        assert_eq!(merged.latency_ms, 500);
        assert_eq!(
            merged.error,
            Some(ekm_lab::HopErrorName::ThrottlingException)
        );
        assert_eq!(merged.probability, Some(0.25));
        assert!(merged.reject_credentials && !merged.unreachable && !merged.malformed);
        assert_eq!(hop_faults([].iter()), HopFaults::default());
        assert_eq!(describe_hop_fault(&faults[2]), "25% ThrottlingException");
        assert_eq!(describe_hop_fault(&faults[1]), "400 ms latency");
    }
}
