//! How the runner words a step in reports: an action as one line.

use ekm_lab::KeyInfo;

use super::external::describe_hop_fault;
use crate::schema::{AccessEdit, Action, Cloud, PolicyWord, Vocabulary, demo_key, fault_op_word};
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

/// A version's state after a version action (`gcp-demo version 1 (1): disabled; key enabled`).
pub(super) fn version_state(key: &str, place: u32, id: &str, info: &KeyInfo) -> String {
    let state = info
        .version_states
        .iter()
        .find(|v| v.id == id)
        .map_or("gone", |v| v.state.as_str());
    format!("{key} version {place} ({id}): {state}; key {}", info.state)
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
        Action::Version(step) => format!("{name} {} version {}", step.key, step.version),
        Action::AliasSwap(swap) => format!("{name} alias/{} → {}", swap.alias, swap.to),
        Action::SwitchKey(switch) => format!("{name} {} → {}", switch.provider, switch.to),
        Action::ExternalKey(step) => format!("{name} {} {}", step.action.word(), step.key),
        Action::Access(edit) => format!("{name} {}", describe_edit(edit)),
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

/// What an access edit is about (`DenyEkm in the key policy of aws-demo`).
fn describe_edit(edit: &AccessEdit) -> String {
    let policy = |policy: PolicyWord, key: &Option<String>, name: &Option<String>| match policy {
        PolicyWord::Trust => "the role's trust policy".to_owned(),
        PolicyWord::Key => format!(
            "the key policy of {}",
            key.as_deref().unwrap_or(demo_key(Cloud::Aws))
        ),
        PolicyWord::Role => format!("role policy {}", name.as_deref().unwrap_or_default()),
    };
    let on = |key: &Option<String>, other: Option<String>, cloud: Cloud| {
        other.unwrap_or_else(|| key.clone().unwrap_or_else(|| demo_key(cloud).to_owned()))
    };
    match edit {
        AccessEdit::PutStatement(put) => format!(
            "{} in {}",
            put.statement.json["Sid"].as_str().unwrap_or("(no Sid)"),
            policy(put.policy, &put.key, &put.name)
        ),
        AccessEdit::RemoveStatement(remove) => format!(
            "{} from {}",
            remove.sid,
            policy(remove.policy, &remove.key, &remove.name)
        ),
        AccessEdit::PutBinding(b) | AccessEdit::RemoveBinding(b) => format!(
            "{} on {}",
            b.role,
            on(&b.key, b.resource.clone(), Cloud::Gcp)
        ),
        AccessEdit::PutAssignment(a) | AccessEdit::RemoveAssignment(a) => format!(
            "{} on {}",
            a.role,
            on(
                &a.key,
                a.scope.as_ref().map(ToString::to_string),
                Cloud::Azure
            )
        ),
        AccessEdit::DeleteServicePrincipal(d) => d.app_id.as_ref().map_or_else(
            || "of EKM".to_owned(),
            |app| format!("of application {app}"),
        ),
        AccessEdit::PutAccess(documents) => {
            let clouds: Vec<&str> = documents.clouds().iter().map(|c| c.as_str()).collect();
            clouds.join(", ")
        }
    }
}
