//! Reading a scenario file: YAML syntax and shape first (serde, which reports the line and
//! column), then the meaning — unknown objects, keys and providers, times going backwards,
//! impossible bounds — each problem with the file, line and column of the value at fault and a
//! suggestion when a name is a near miss. Never panics, whatever the input.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ekm_engine::ObjectName;
use ekm_lab::KeySpec;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::schema::{
    Action, CallExpectation, Cloud, Count, Expect, FaultKind, HopExpectation, HopFault,
    HopFaultWord, Scenario, StepTime, Vocabulary, demo_key, suggest,
};
use crate::time::LabDuration;

mod access;

/// Where in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `<string>`).
    pub origin: String,
    /// Where, when known.
    pub location: Option<Location>,
    /// The field path (`steps[3].expect.readable[0]`), when known.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: path: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(at) = self.location {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid scenario; every problem found.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and checks the scenario in `path`.
/// Documents given as `{file: PATH}` are read relative to the scenario's directory.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_in(&text, &path.display().to_string(), path.parent())
}

/// Parses and checks scenario text; `origin` names it in messages. Documents given as
/// `{file: PATH}` are read relative to the working directory.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    parse_in(text, origin, None)
}

/// [`parse`], reading documents given as `{file: PATH}` relative to `base`.
fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Scenario, ScenarioError> {
    let diagnostic = |location, path: &str, message: String| Diagnostic {
        origin: origin.to_owned(),
        location,
        path: path.to_owned(),
        message,
    };
    let blank = text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    if blank {
        return Err(ScenarioError::Invalid(vec![diagnostic(
            None,
            "",
            "the file is empty: a scenario needs `name:`, `description:` and `steps:`".into(),
        )]));
    }
    let mut scenario: Scenario = serde_yaml::from_str(text).map_err(|error| {
        let location = error.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        });
        ScenarioError::Invalid(vec![diagnostic(location, "", serde_message(&error))])
    })?;
    let mut problems = access::load_documents(&mut scenario, base);
    problems.extend(check(&scenario));
    if problems.is_empty() {
        return Ok(scenario);
    }
    Err(ScenarioError::Invalid(
        problems
            .into_iter()
            .map(|(path, message)| diagnostic(locate(text, &path), &render_path(&path), message))
            .collect(),
    ))
}

/// serde_yaml's message without its trailing " at line L column C" (the diagnostic has it).
fn serde_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.location().is_some() => text[..at].to_owned(),
        _ => text,
    }
}

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

// ---- semantic checks ----

type Problems = Vec<(Vec<Seg>, String)>;

/// What a scenario can name.
struct Names<'a> {
    scenario: &'a Scenario,
    /// Lab key names and their providers: the demo keys and the declared ones.
    keys: BTreeMap<String, Cloud>,
    /// The declared keys backed by an external key, and that key's id.
    external: BTreeMap<String, String>,
}

impl Names<'_> {
    fn object(&self, problems: &mut Problems, at: Vec<Seg>, name: &str) -> Option<Cloud> {
        match self.scenario.objects.get(name) {
            Some(object) => Some(object.provider),
            None => {
                let message = if self.scenario.objects.is_empty() {
                    format!("unknown object `{name}` — declare it under `objects:` first")
                } else {
                    unknown_name(
                        "object",
                        name,
                        self.scenario.objects.keys().map(String::as_str),
                    )
                };
                problems.push((at, message));
                None
            }
        }
    }

    fn key(&self, problems: &mut Problems, at: Vec<Seg>, name: &str) -> Option<Cloud> {
        match self.keys.get(name) {
            Some(provider) => Some(*provider),
            None => {
                problems.push((
                    at,
                    unknown_name("key", name, self.keys.keys().map(String::as_str)),
                ));
                None
            }
        }
    }

    /// A key backed by an external key (for `external-key:` and `hop_calls:`).
    fn external_key(&self, problems: &mut Problems, at: Vec<Seg>, name: &str) {
        if self.key(problems, at.clone(), name).is_some() && !self.external.contains_key(name) {
            let backed: Vec<&str> = self.external.keys().map(String::as_str).collect();
            let hint = if backed.is_empty() {
                "declare one under `keys:` with `external_key: ID`".to_owned()
            } else {
                format!("backed keys: {}", quoted(&backed))
            };
            problems.push((
                at,
                format!("key `{name}` is not backed by an external key — {hint}"),
            ));
        }
    }

    /// Whether an action or expectation about the external key manager has any key to act on.
    fn needs_external(&self, problems: &mut Problems, at: Vec<Seg>, what: &str) {
        if self.external.is_empty() {
            problems.push((
                at,
                format!(
                    "`{what}` concerns the external key manager, but no key of this scenario is \
                     backed by one — declare one under `keys:` with `external_key: ID`"
                ),
            ));
        }
    }

    fn provider(&self, problems: &mut Problems, at: Vec<Seg>, provider: Cloud) {
        if let Some(declared) = &self.scenario.providers
            && !declared.contains(&provider)
        {
            let list: Vec<String> = declared.iter().map(ToString::to_string).collect();
            problems.push((
                at,
                format!(
                    "provider `{provider}` is not one of this scenario's `providers: [{}]`",
                    list.join(", ")
                ),
            ));
        }
    }
}

fn unknown_name<'a>(
    what: &str,
    found: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> String {
    match suggest(found, known.clone()) {
        Some(best) => format!("unknown {what} `{found}` — did you mean `{best}`?"),
        None => format!(
            "unknown {what} `{found}` — known: {}",
            known
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn at(base: &[Seg], more: &[Seg]) -> Vec<Seg> {
    base.iter().chain(more).cloned().collect()
}

fn is_lab_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every problem with a parsed scenario, with the path of the value at fault.
fn check(scenario: &Scenario) -> Problems {
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

fn check_action(names: &Names<'_>, p: &mut Problems, here: &[Seg], action: &Action) {
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

fn check_expect(names: &Names<'_>, p: &mut Problems, here: &[Seg], expect: &Expect) {
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

// ---- locating a path in the text ----

const HERE: &str = "\u{0}ekm-scenarios-probe-here";

/// The line and column of the value at `path` in `text`: the document is walked to it with a
/// seed that fails on arrival, so serde_yaml stamps the failure with that node's position.
fn locate(text: &str, path: &[Seg]) -> Option<Location> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    match Probe(path).deserialize(deserializer) {
        Err(error) if error.to_string().contains(HERE) => error.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        }),
        _ => None,
    }
}

struct Probe<'a>(&'a [Seg]);

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Seg::Key(wanted), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        while let Some(found) = map.next_key::<serde_yaml::Value>()? {
            if found.as_str() == Some(wanted.as_str()) {
                return map.next_value_seed(Probe(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Seg::Index(wanted), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(HERE));
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Probe(rest)).map(|_| ())
    }
}

impl Probe<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(HERE))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values() {
        let text = "a: 1\nsteps:\n  - at: 0s\n    encrypt: x\n  - after: 1m\n    rotate: k\n";
        let path = [key("steps"), Seg::Index(1), key("rotate")];
        assert_eq!(
            locate(text, &path),
            Some(Location {
                line: 6,
                column: 13
            })
        );
        assert_eq!(locate(text, &[key("nope")]), None);
        assert_eq!(render_path(&path), "steps[1].rotate");
    }
}
