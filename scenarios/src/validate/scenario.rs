//! The meaning of a parsed scenario as a whole: its name and description, engine settings,
//! fleet and invariants, the declared keys (external ones included) and objects, and the steps'
//! times, which never go backwards. Each step's action and expectation are checked in `steps`.

use std::collections::BTreeMap;
use std::time::Duration;

use ekm_engine::ObjectName;
use ekm_lab::KeySpec;

use super::names::is_lab_name;
use super::steps::{check_action, check_expect};
use super::{Names, Problems, Seg, access, at, key};
use crate::schema::{Cloud, Scenario, StepTime, demo_key};
use crate::time::LabDuration;

/// Every problem with a parsed scenario, with the path of the value at fault.
pub(super) fn check(scenario: &Scenario) -> Problems {
    let mut p: Problems = Vec::new();
    if scenario.name.trim().is_empty() {
        p.push((vec![key("name")], "the name is empty".into()));
    }
    if scenario.description.trim().is_empty() {
        p.push((
            vec![key("description")],
            "the description is empty: tell the story the scenario shows".into(),
        ));
    }
    if let Some(engine) = &scenario.engine {
        for (field, zero) in [
            ("dek_rotation", engine.dek_rotation.is_zero()),
            ("revalidate_after", engine.revalidate_after.is_zero()),
            ("cache_capacity", engine.cache_capacity == 0),
        ] {
            if zero {
                p.push((
                    vec![key("engine"), key(field)],
                    "must be greater than zero".into(),
                ));
            }
        }
    }
    if let Some(timeout) = scenario.hop_timeout
        && !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&timeout.0)
    {
        p.push((
            vec![key("hop_timeout")],
            "between 1ms and 60s (the XKS specification's is 250ms)".into(),
        ));
    }
    if let Some(fleet) = &scenario.fleet
        && let Err(error) = fleet.check()
    {
        p.push((vec![key("fleet")], error.to_string()));
    }
    if let Some(within) = scenario.invariants.revocation_effective_within
        && within.0.is_zero()
    {
        p.push((
            vec![key("invariants"), key("revocation_effective_within")],
            "must be longer than zero (e.g. `1h`)".into(),
        ));
    }

    let mut external: BTreeMap<String, String> = BTreeMap::new();
    let mut keys: BTreeMap<String, Cloud> = Cloud::ALL
        .into_iter()
        .map(|cloud| (demo_key(cloud).to_owned(), cloud))
        .collect();
    for (i, decl) in scenario.keys.iter().enumerate() {
        let here = vec![key("keys"), Seg::Index(i)];
        if !is_lab_name(&decl.name) {
            p.push((
                at(&here, &[key("name")]),
                format!(
                    "invalid key name `{}`: use 1-64 ASCII letters, digits, '-' or '_'",
                    decl.name
                ),
            ));
        } else if keys.contains_key(&decl.name) {
            p.push((
                at(&here, &[key("name")]),
                format!("key `{}` is declared twice (or is a demo key)", decl.name),
            ));
        }
        if let Some(spec) = &decl.spec
            && let Err(error) = KeySpec::parse_for(decl.provider, spec)
        {
            p.push((at(&here, &[key("spec")]), error.to_string()));
        }
        if let Some(id) = &decl.external_key {
            check_external_key(&mut p, &here, decl, id, &external, scenario);
            external.insert(decl.name.clone(), id.clone());
        }
        keys.insert(decl.name.clone(), decl.provider);
    }
    let names = Names {
        scenario,
        keys,
        external,
    };
    for (i, decl) in scenario.keys.iter().enumerate() {
        names.provider(
            &mut p,
            vec![key("keys"), Seg::Index(i), key("provider")],
            decl.provider,
        );
    }
    access::check_names(&names, &mut p);
    for (name, object) in &scenario.objects {
        let here = vec![key("objects"), key(name)];
        if ObjectName::new(name.as_str()).is_err() {
            p.push((
                here.clone(),
                format!(
                    "invalid object name `{name}`: use letters, digits, '.', '-' or '_', not \
                     starting with '.'"
                ),
            ));
        }
        names.provider(&mut p, at(&here, &[key("provider")]), object.provider);
        if let Some(name) = &object.key
            && let Some(provider) = names.key(&mut p, at(&here, &[key("key")]), name)
            && provider != object.provider
        {
            p.push((
                at(&here, &[key("key")]),
                format!("`{name}` is a {provider} key, not {}", object.provider),
            ));
        }
    }

    if scenario.steps.is_empty() {
        p.push((
            vec![key("steps")],
            "a scenario needs at least one step".into(),
        ));
    }
    let mut previous_end = Duration::ZERO;
    for (i, step) in scenario.steps.iter().enumerate() {
        let here = vec![key("steps"), Seg::Index(i)];
        let start = match step.time {
            StepTime::At(LabDuration(t)) => {
                if t < previous_end {
                    p.push((
                        at(&here, &[key("at")]),
                        format!(
                            "time goes backwards: `at: {}` is before the previous step ended \
                             (at {}); steps run in order — move this step up or use `after:`",
                            LabDuration(t),
                            LabDuration(previous_end)
                        ),
                    ));
                }
                t.max(previous_end)
            }
            StepTime::After(LabDuration(d)) => previous_end.saturating_add(d),
        };
        previous_end = start.saturating_add(step.action.span().0);
        check_action(&names, &mut p, &here, &step.action);
        if let Some(expect) = &step.expect {
            check_expect(&names, &mut p, &at(&here, &[key("expect")]), expect);
        }
    }
    p
}

/// A key declared with `external_key:`: an id the XKS specification allows, a cloud with
/// external keys, no other spec, and (AWS) one KMS key per external key in the store.
fn check_external_key(
    p: &mut Problems,
    here: &[Seg],
    decl: &crate::schema::KeyDecl,
    id: &str,
    earlier: &BTreeMap<String, String>,
    scenario: &Scenario,
) {
    let field = at(here, &[key("external_key")]);
    let valid_id = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid_id {
        p.push((
            field.clone(),
            format!(
                "invalid external key id `{id}`: use 1-128 ASCII letters, digits, '.', '_' or '-'"
            ),
        ));
    }
    if decl.provider == Cloud::Azure {
        p.push((
            at(here, &[key("provider")]),
            "Azure Key Vault has no external key store — back an `aws` key (external key \
             store) or a `gcp` key (Cloud EKM)"
                .into(),
        ));
    }
    if decl.spec.is_some() {
        p.push((
            at(here, &[key("spec")]),
            "a key backed by an external key is symmetric (AES-256 in the external key \
             manager) — drop `spec`"
                .into(),
        ));
    }
    if decl.provider == Cloud::Aws
        && let Some((other, _)) = earlier.iter().find(|(other, other_id)| {
            *other_id == id
                && scenario
                    .keys
                    .iter()
                    .any(|k| k.name == **other && k.provider == Cloud::Aws)
        })
    {
        p.push((
            field,
            format!(
                "external key `{id}` already backs the AWS key `{other}`; an external key store \
                 backs one KMS key per external key"
            ),
        ));
    }
}
