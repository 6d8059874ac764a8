//! How the runner words a step in reports: an action as one line.

use ekm_lab::KeyInfo;

use super::external::describe_hop_fault;
use crate::schema::{Action, Vocabulary, fault_op_word};
use crate::time::compact;

/// A key's state after an action (`aws-demo: Enabled, access on, trust on, 2 versions`).
pub(super) fn key_state(key: &str, info: &KeyInfo) -> String {
    let versions = info.versions.len();
    format!(
        "{key}: {}, access {}, trust {}, {versions} version{}",
        info.state,
        on_off(info.access),
        on_off(info.trust),
        if versions == 1 { "" } else { "s" }
    )
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A step's action as one line (`rotate aws-demo`, `encrypt a, b`).
pub fn describe(action: &Action) -> String {
    let name = action.name();
    match action {
        Action::Encrypt(objects) | Action::Decrypt(objects) => {
            format!("{name} {}", objects.join(", "))
        }
        Action::ReadAll => name.to_owned(),
        Action::Traffic(t) => {
            let providers: Vec<String> = t.provider.0.iter().map(ToString::to_string).collect();
            format!(
                "{name} {} ops / {} on {}",
                t.operations,
                t.over,
                providers.join("+")
            )
        }
        Action::FleetTraffic(w) => format!("{name} {} ops / {}", w.operations, w.over),
        Action::Key { key, .. } => format!("{name} {key}"),
        Action::AliasSwap(swap) => format!("{name} alias/{} → {}", swap.alias, swap.to),
        Action::SwitchKey(switch) => format!("{name} {} → {}", switch.provider, switch.to),
        Action::ExternalKey(step) => format!("{name} {} {}", step.action.word(), step.key),
        Action::HsmFleet(fleet) => {
            format!("{name} {} for {}", fleet.status, compact(fleet.window.0))
        }
        Action::HopFault(fault) => format!(
            "{name} {} for {}",
            describe_hop_fault(fault),
            compact(fault.window.0)
        ),
        Action::Fault(fault) => {
            let op = fault
                .scope
                .op
                .map(|op| format!(" {}", fault_op_word(op)))
                .unwrap_or_default();
            format!(
                "{name} {}{op} for {}",
                fault.scope.provider,
                compact(fault.window.0)
            )
        }
    }
}
