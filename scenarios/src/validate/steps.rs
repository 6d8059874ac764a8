//! Each step of a scenario: its action (the names it refers to, the fault's fields, the rates and
//! windows) and its expectation (objects, counts and their bounds).

use super::{Names, Problems, Seg, access, at, key, unknown_name};
use crate::schema::{
    Action, CallExpectation, Cloud, Count, Expect, FaultKind, HopExpectation, HopFault,
    HopFaultWord, Vocabulary,
};

fn check_hop_fault(p: &mut Problems, arg: &[Seg], fault: &HopFault) {
    let word = fault.fault.word();
    let needs = |field: &str, present: bool, wanted: bool, p: &mut Problems| {
        if present && !wanted {
            p.push((
                at(arg, &[key(field)]),
                format!("`{field}` does not apply to the `{word}` hop fault"),
            ));
        }
    };
    needs(
        "ms",
        fault.ms.is_some(),
        fault.fault == HopFaultWord::Latency,
        p,
    );
    needs(
        "error",
        fault.error.is_some(),
        fault.fault == HopFaultWord::Error,
        p,
    );
    needs(
        "rate",
        fault.rate.is_some(),
        matches!(fault.fault, HopFaultWord::Error | HopFaultWord::Malformed),
        p,
    );
    match (fault.fault, fault.ms, fault.error) {
        (HopFaultWord::Latency, None, _) => p.push((
            at(arg, &[key("fault")]),
            "a latency hop fault needs `ms` (e.g. `ms: 300`)".into(),
        )),
        (HopFaultWord::Latency, Some(ms), _) if ms == 0 || ms > 60_000 => p.push((
            at(arg, &[key("ms")]),
            "between 1 and 60000 ms (latency is real time)".into(),
        )),
        (HopFaultWord::Error, _, None) => p.push((
            at(arg, &[key("fault")]),
            "an error hop fault needs `error`, an XKS error name (e.g. `error: \
             ThrottlingException`)"
                .into(),
        )),
        _ => {}
    }
    if let Some(rate) = fault.rate
        && !(rate > 0.0 && rate <= 1.0)
    {
        p.push((
            at(arg, &[key("rate")]),
            format!("`{rate}` is not a fraction in (0, 1]"),
        ));
    }
}

pub(super) fn check_action(names: &Names<'_>, p: &mut Problems, here: &[Seg], action: &Action) {
    let arg = at(here, &[key(action.name())]);
    if action.window().is_some_and(|w| w.0.is_zero()) {
        p.push((
            at(&arg, &[key("for")]),
            "a fault window must be longer than zero (e.g. `20m`)".into(),
        ));
    }
    match action {
        Action::Encrypt(objects) | Action::Decrypt(objects) => {
            if objects.is_empty() {
                p.push((arg.clone(), "name at least one object".into()));
            }
            for (j, object) in objects.iter().enumerate() {
                let item = if objects.len() == 1 {
                    arg.clone()
                } else {
                    at(&arg, &[Seg::Index(j)])
                };
                names.object(p, item, object);
            }
        }
        Action::ReadAll => {}
        Action::FleetTraffic(workload) => match &names.scenario.fleet {
            None => p.push((
                arg,
                "a fleet-traffic step needs a `fleet:` (e.g. `fleet: {projects: 50, replicas: 3}`)"
                    .into(),
            )),
            Some(fleet) => {
                if let Err(error) = workload.check(fleet) {
                    p.push((arg, error.to_string()));
                }
            }
        },
        Action::Traffic(traffic) => {
            if !(1..=10_000_000).contains(&traffic.operations) {
                p.push((
                    at(&arg, &[key("operations")]),
                    "must be between 1 and 10000000".into(),
                ));
            }
            if let Some(reads) = traffic.reads
                && !(0.0..=1.0).contains(&reads)
            {
                p.push((
                    at(&arg, &[key("reads")]),
                    format!("`{reads}` is not a fraction between 0 and 1"),
                ));
            }
            if traffic.provider.0.is_empty() {
                p.push((
                    at(&arg, &[key("provider")]),
                    "name at least one provider".into(),
                ));
            }
            for provider in &traffic.provider.0 {
                names.provider(p, at(&arg, &[key("provider")]), *provider);
            }
        }
        Action::Key { key: name, .. } => {
            if let Some(provider) = names.key(p, arg.clone(), name) {
                names.provider(p, arg, provider);
            }
        }
        Action::Version(step) => {
            if step.version == 0 {
                p.push((
                    at(&arg, &[key("version")]),
                    "versions count from 1, the oldest".into(),
                ));
            }
            if let Some(provider) = names.key(p, at(&arg, &[key("key")]), &step.key) {
                if let Some(why) = step.action.unsupported_on(provider) {
                    p.push((at(&arg, &[key("key")]), format!("`{}`: {why}", step.key)));
                }
                names.provider(p, arg, provider);
            }
        }
        Action::AliasSwap(swap) => {
            if swap.alias != "ekm-demo" {
                p.push((
                    at(&arg, &[key("alias")]),
                    unknown_name("alias", &swap.alias, ["ekm-demo"].into_iter()),
                ));
            }
            if let Some(provider) = names.key(p, at(&arg, &[key("to")]), &swap.to)
                && provider != Cloud::Aws
            {
                p.push((
                    at(&arg, &[key("to")]),
                    format!(
                        "aliases point at AWS keys; `{}` is a {provider} key",
                        swap.to
                    ),
                ));
            }
            names.provider(p, arg, Cloud::Aws);
        }
        Action::SwitchKey(switch) => {
            names.provider(p, at(&arg, &[key("provider")]), switch.provider);
            if let Some(provider) = names.key(p, at(&arg, &[key("to")]), &switch.to)
                && provider != switch.provider
            {
                p.push((
                    at(&arg, &[key("to")]),
                    format!(
                        "`{}` is a {provider} key; the {} project can only switch to a {} key",
                        switch.to, switch.provider, switch.provider
                    ),
                ));
            }
        }
        Action::ExternalKey(step) => {
            names.external_key(p, at(&arg, &[key("key")]), &step.key);
        }
        Action::Access(edit) => access::check_edit(names, p, &arg, edit),
        Action::HsmFleet(_) => names.needs_external(p, arg.clone(), "hsm-fleet"),
        Action::HopFault(fault) => {
            names.needs_external(p, arg.clone(), "hop-fault");
            check_hop_fault(p, &arg, fault);
        }
        Action::Fault(fault) => {
            names.provider(p, at(&arg, &[key("provider")]), fault.scope.provider);
            if let Some(name) = &fault.scope.key
                && let Some(provider) = names.key(p, at(&arg, &[key("key")]), name)
                && provider != fault.scope.provider
            {
                p.push((
                    at(&arg, &[key("key")]),
                    format!("`{name}` is a {provider} key, not {}", fault.scope.provider),
                ));
            }
            match fault.kind {
                FaultKind::Latency { ms } if ms > 60_000 => p.push((
                    at(&arg, &[key("ms")]),
                    "at most 60000 ms (latency is real time)".into(),
                )),
                FaultKind::ErrorRate { rate, .. } if !(rate > 0.0 && rate <= 1.0) => p.push((
                    at(&arg, &[key("rate")]),
                    format!("`{rate}` is not a fraction in (0, 1]"),
                )),
                FaultKind::Throttle { per, .. }
                    if per.0.as_secs() == 0 || per.0.subsec_nanos() != 0 =>
                {
                    p.push((
                        at(&arg, &[key("per")]),
                        "the throttle window is whole seconds, at least `1s`".into(),
                    ));
                }
                _ => {}
            }
        }
    }
}

pub(super) fn check_expect(names: &Names<'_>, p: &mut Problems, here: &[Seg], expect: &Expect) {
    if let Some(readable) = &expect.readable {
        let base = at(here, &[key("readable")]);
        for (j, object) in readable.0.iter().enumerate() {
            let item = if readable.0.len() == 1 {
                base.clone()
            } else {
                at(&base, &[Seg::Index(j)])
            };
            names.object(p, item, object);
        }
    }
    if let Some(unreadable) = &expect.unreadable {
        let base = at(here, &[key("unreadable")]);
        for (j, (object, kind)) in unreadable.0.iter().enumerate() {
            let item = match kind {
                Some(_) => at(&base, &[key(object)]),
                None if unreadable.0.len() == 1 => base.clone(),
                None => at(&base, &[Seg::Index(j)]),
            };
            names.object(p, item, object);
        }
    }
    if let Some(calls) = &expect.kms_calls {
        let base = at(here, &[key("kms_calls")]);
        for (j, call) in calls.0.iter().enumerate() {
            let item = if calls.0.len() == 1 {
                base.clone()
            } else {
                at(&base, &[Seg::Index(j)])
            };
            names.provider(p, at(&item, &[key("provider")]), call.provider);
            if let Err(message) = call_bounds(call) {
                p.push((item, message));
            }
        }
    }
    if let Some(states) = &expect.key_state {
        let base = at(here, &[key("key_state")]);
        for name in states.keys() {
            names.key(p, at(&base, &[key(name)]), name);
        }
    }
    if let Some(hops) = &expect.hop_calls {
        let base = at(here, &[key("hop_calls")]);
        names.needs_external(p, base.clone(), "hop_calls");
        for (j, hop) in hops.0.iter().enumerate() {
            let item = if hops.0.len() == 1 {
                base.clone()
            } else {
                at(&base, &[Seg::Index(j)])
            };
            if let Some(provider) = hop.provider {
                if provider == Cloud::Azure {
                    p.push((
                        at(&item, &[key("provider")]),
                        "Azure Key Vault makes no hops: it has no external key store".into(),
                    ));
                }
                names.provider(p, at(&item, &[key("provider")]), provider);
            }
            if let Some(name) = &hop.key {
                names.external_key(p, at(&item, &[key("key")]), name);
            }
            if let Err(message) = hop_bounds(hop) {
                p.push((item, message));
            }
        }
    }
    if let Some(cache) = &expect.cache {
        let base = at(here, &[key("cache")]);
        if let Some(provider) = cache.provider {
            names.provider(p, at(&base, &[key("provider")]), provider);
        }
        for (field, count) in [
            ("active_deks", cache.active_deks),
            ("decrypt_entries", cache.decrypt_entries),
        ] {
            if let Some(Count {
                min: Some(min),
                max: Some(max),
            }) = count
                && min > max
            {
                p.push((
                    at(&base, &[key(field)]),
                    format!("min {min} is greater than max {max}"),
                ));
            }
        }
        if cache.active_deks.is_none() && cache.decrypt_entries.is_none() {
            p.push((
                base,
                "say what to expect: `active_deks` and/or `decrypt_entries`".into(),
            ));
        }
    }
    if let Some(volume) = &expect.volume {
        let base = at(here, &[key("volume")]);
        for (field, value) in [
            ("min_hit_ratio", volume.min_hit_ratio),
            ("forecast_within", volume.forecast_within),
        ] {
            if let Some(value) = value
                && !(0.0..=1.0).contains(&value)
            {
                p.push((
                    at(&base, &[key(field)]),
                    format!("`{value}` is not a fraction between 0 and 1"),
                ));
            }
        }
        if let Some(max) = volume.max_calls_per_1000_ops
            && (!max.is_finite() || max < 0.0)
        {
            p.push((
                at(&base, &[key("max_calls_per_1000_ops")]),
                format!("`{max}` is not a number of calls"),
            ));
        }
    }
}

/// The bounds of a `kms_calls` expectation as a [`Count`], or why they make no sense.
pub fn call_bounds(call: &CallExpectation) -> Result<Count, String> {
    bounds(call.exactly, call.min, call.max)
}

/// The bounds of a `hop_calls` expectation as a [`Count`], or why they make no sense.
pub fn hop_bounds(hop: &HopExpectation) -> Result<Count, String> {
    bounds(hop.exactly, hop.min, hop.max)
}

fn bounds(exactly: Option<u64>, min: Option<u64>, max: Option<u64>) -> Result<Count, String> {
    match (exactly, min, max) {
        (Some(n), None, None) => Ok(Count {
            min: Some(n),
            max: Some(n),
        }),
        (Some(_), _, _) => Err("give `exactly`, or `min` and/or `max`, not both".into()),
        (None, None, None) => Err("give `exactly`, `min` or `max`".into()),
        (None, Some(min), Some(max)) if min > max => {
            Err(format!("min {min} is greater than max {max}"))
        }
        (None, min, max) => Ok(Count { min, max }),
    }
}
