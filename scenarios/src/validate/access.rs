//! Loading and checking a scenario's access documents: each `{file: PATH}` read relative to the
//! scenario, the policy taken out of an AWS CLI output, and every document read by
//! [`ekm_access`] the way its cloud reads it — a bad one is refused at load with the file, the
//! JSON path and why. Also the names the documents, projects and access edits refer to.

use std::path::Path;

use ekm_access::DocumentError;
use ekm_access::aws::{Policy, PolicyKind};
use ekm_access::azure::{RoleDefinition, ServicePrincipal, Vault};
use ekm_access::gcp::{CustomRoles, IamPolicy, Provider};
use serde_json::{Value, json};

use super::{Names, Problems, Seg, at, key, unknown_name};
use crate::schema::{
    AccessDocuments, AccessEdit, Assignment, Binding, Cloud, Document, OneOrMany, PolicyWord,
    Scenario,
};

/// What a document is, which decides how it is read.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Policy(PolicyKind),
    Statement(PolicyKind),
    Provider,
    IamPolicy,
    CustomRole,
    ServicePrincipal,
    RoleDefinition,
    Assignment,
    Vault,
}

/// Reads every file document of `scenario` (relative to `base`, or the working directory) and
/// checks every document; the problems found, at the document's place in the scenario.
pub(super) fn load_documents(scenario: &mut Scenario, base: Option<&Path>) -> Problems {
    let mut p = Problems::new();
    let mut bindings = Problems::new();
    let mut load = |place: Vec<Seg>, doc: &mut Document, slot: Slot| {
        if let Err(message) = load_document(doc, base, slot) {
            p.push((place, message));
        }
    };
    if let Some(access) = &mut scenario.access {
        each_document(access, &[key("access")], &mut load);
    }
    for (i, step) in scenario.steps.iter_mut().enumerate() {
        let crate::schema::Action::Access(edit) = &mut step.action else {
            continue;
        };
        let here = vec![key("steps"), Seg::Index(i), key(edit_word(edit))];
        match edit {
            AccessEdit::PutStatement(put) => {
                let kind = policy_kind(put.policy);
                load(
                    at(&here, &[key("statement")]),
                    &mut put.statement,
                    Slot::Statement(kind),
                );
            }
            AccessEdit::PutAccess(documents) => each_document(documents, &here, &mut load),
            AccessEdit::PutBinding(binding) | AccessEdit::RemoveBinding(binding) => {
                let read = match &mut binding.condition {
                    Some(condition) => read_file(condition, base),
                    None => Ok(()),
                };
                if let Err(message) = read.and_then(|()| check_binding(binding)) {
                    bindings.push((here, message));
                }
            }
            _ => {}
        }
    }
    p.extend(bindings);
    p
}

fn edit_word(edit: &AccessEdit) -> &'static str {
    crate::schema::AccessWord::of(edit).as_str()
}

fn each_document(
    access: &mut AccessDocuments,
    base: &[Seg],
    load: &mut impl FnMut(Vec<Seg>, &mut Document, Slot),
) {
    if let Some(aws) = &mut access.aws {
        let here = at(base, &[key("aws")]);
        if let Some(trust) = &mut aws.trust_policy {
            load(
                at(&here, &[key("trust_policy")]),
                trust,
                Slot::Policy(PolicyKind::Trust),
            );
        }
        for (field, kind, documents) in [
            (
                "role_policies",
                PolicyKind::Identity,
                &mut aws.role_policies,
            ),
            ("key_policies", PolicyKind::Key, &mut aws.key_policies),
        ] {
            for (name, doc) in documents {
                load(at(&here, &[key(field), key(name)]), doc, Slot::Policy(kind));
            }
        }
    }
    if let Some(gcp) = &mut access.gcp {
        let here = at(base, &[key("gcp")]);
        each_listed(&here, "providers", &mut gcp.providers, Slot::Provider, load);
        each_listed(
            &here,
            "custom_roles",
            &mut gcp.custom_roles,
            Slot::CustomRole,
            load,
        );
        for (name, doc) in &mut gcp.policies {
            load(
                at(&here, &[key("policies"), key(name)]),
                doc,
                Slot::IamPolicy,
            );
        }
    }
    if let Some(azure) = &mut access.azure {
        let here = at(base, &[key("azure")]);
        for (field, list, slot) in [
            (
                "service_principals",
                &mut azure.service_principals,
                Slot::ServicePrincipal,
            ),
            (
                "role_definitions",
                &mut azure.role_definitions,
                Slot::RoleDefinition,
            ),
            (
                "role_assignments",
                &mut azure.role_assignments,
                Slot::Assignment,
            ),
        ] {
            each_listed(&here, field, list, slot, load);
        }
        if let Some(vault) = &mut azure.vault {
            load(at(&here, &[key("vault")]), vault, Slot::Vault);
        }
    }
}

fn each_listed(
    here: &[Seg],
    field: &str,
    list: &mut Option<OneOrMany<Document>>,
    slot: Slot,
    load: &mut impl FnMut(Vec<Seg>, &mut Document, Slot),
) {
    let Some(OneOrMany(documents)) = list else {
        return;
    };
    let one = documents.len() == 1;
    for (i, doc) in documents.iter_mut().enumerate() {
        let place = if one {
            at(here, &[key(field)])
        } else {
            at(here, &[key(field), Seg::Index(i)])
        };
        load(place, doc, slot);
    }
}

/// Reads `doc`'s file (if any), takes an AWS policy out of its CLI output and checks it as
/// `slot`; the refusal names the file (if any), the JSON path and why.
fn load_document(doc: &mut Document, base: Option<&Path>, slot: Slot) -> Result<(), String> {
    read_file(doc, base)?;
    let origin = |e: DocumentError| match &doc.file {
        Some(file) => format!("{}: {e}", file.display()),
        None => e.to_string(),
    };
    if let Slot::Policy(_) = slot {
        let (policy, inside) =
            ekm_access::aws::policy::from_cli_output(&doc.json).map_err(origin)?;
        check(&policy, slot).map_err(|e| origin(e.within(inside)))?;
        doc.json = policy;
        return Ok(());
    }
    check(&doc.json, slot).map_err(origin)
}

/// Reads `doc`'s file, if it has one, as JSON.
fn read_file(doc: &mut Document, base: Option<&Path>) -> Result<(), String> {
    let Some(file) = &doc.file else {
        return Ok(());
    };
    let path = base.map_or_else(|| file.clone(), |b| b.join(file));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    doc.json =
        ekm_access::document::parse_json(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(())
}

/// Checks one document (or, for list slots, a JSON list of them) as its cloud reads it.
fn check(value: &Value, slot: Slot) -> Result<(), DocumentError> {
    if let (Value::Array(items), true) = (value, listed(slot)) {
        for (i, item) in items.iter().enumerate() {
            check(item, slot).map_err(|e| e.within(&format!("$[{i}]")))?;
        }
        return Ok(());
    }
    match slot {
        Slot::Policy(kind) => Policy::from_value(kind, value).map(drop),
        Slot::Statement(kind) => {
            if !value.is_object() {
                return Err(DocumentError {
                    path: "$".into(),
                    reason: "a statement is a map (`{Sid, Effect, Principal, Action, …}`)".into(),
                });
            }
            let policy = json!({"Version": "2012-10-17", "Statement": [value]});
            Policy::from_value(kind, &policy)
                .map(drop)
                .map_err(|e| rebase(e, "$.Statement[0]"))
        }
        Slot::Provider => Provider::from_value(value).map(drop),
        Slot::IamPolicy => IamPolicy::from_value(value).map(drop),
        Slot::CustomRole => CustomRoles::default().add(value),
        Slot::ServicePrincipal => ServicePrincipal::from_value(value).map(drop),
        Slot::RoleDefinition => RoleDefinition::from_value(value).map(drop),
        Slot::Assignment => ekm_access::azure::Assignment::from_value(value).map(drop),
        Slot::Vault => Vault::from_value(value).map(drop),
    }
}

/// Whether a document of `slot` may be a JSON list of them (as the CLIs print lists).
fn listed(slot: Slot) -> bool {
    matches!(
        slot,
        Slot::Provider
            | Slot::CustomRole
            | Slot::ServicePrincipal
            | Slot::RoleDefinition
            | Slot::Assignment
    )
}

/// A refusal inside a wrapper the lab built (`$.Statement[0]…`) as a path in the document
/// itself (`$…`).
fn rebase(error: DocumentError, wrapper: &str) -> DocumentError {
    match error.path.strip_prefix(wrapper) {
        Some(rest) => DocumentError {
            path: format!("${rest}"),
            reason: error.reason,
        },
        None => error,
    }
}

/// A binding as the IAM policy grammar reads it (role, members, condition).
fn check_binding(binding: &Binding) -> Result<(), String> {
    let mut entry = json!({"role": binding.role});
    let members = binding
        .members
        .as_ref()
        .map_or_else(Vec::new, |m| m.0.clone());
    if members.is_empty() {
        entry["members"] = json!(["allUsers"]);
    } else {
        entry["members"] = json!(members);
    }
    if let Some(condition) = &binding.condition {
        entry["condition"] = condition.json.clone();
    }
    let policy = json!({"version": 3, "bindings": [entry]});
    IamPolicy::from_value(&policy)
        .map(drop)
        .map_err(|e| rebase(e, "$.bindings[0]").to_string())
}

fn policy_kind(policy: PolicyWord) -> PolicyKind {
    match policy {
        PolicyWord::Trust => PolicyKind::Trust,
        PolicyWord::Key => PolicyKind::Key,
        PolicyWord::Role => PolicyKind::Identity,
    }
}

impl Names<'_> {
    /// A key an access document or edit names: declared, and of `cloud`.
    fn key_of(&self, p: &mut Problems, place: Vec<Seg>, name: &str, cloud: Cloud) {
        if let Some(provider) = self.key(p, place.clone(), name)
            && provider != cloud
        {
            p.push((place, format!("`{name}` is a {provider} key, not {cloud}")));
        }
    }
}

/// The names the scenario's documents, projects and objects refer to.
pub(super) fn check_names(names: &Names<'_>, p: &mut Problems) {
    let scenario = names.scenario;
    if let Some(access) = &scenario.access {
        check_documents_names(names, p, &[key("access")], access);
    }
    for (name, project) in &scenario.projects {
        let here = vec![key("projects"), key(name)];
        names.provider(p, at(&here, &[key("provider")]), project.provider);
        if let Some(k) = &project.key {
            names.key_of(p, at(&here, &[key("key")]), k, project.provider);
        }
        if project.subject.is_some() && project.provider != Cloud::Gcp {
            p.push((
                at(&here, &[key("subject")]),
                "`subject` is the GCP ID token's `sub`; only a `gcp` project has one".into(),
            ));
        }
        if project.project_id.as_deref().is_some_and(str::is_empty) {
            p.push((
                at(&here, &[key("project_id")]),
                "the project id is empty".into(),
            ));
        }
    }
    for (name, object) in &scenario.objects {
        let Some(project) = &object.project else {
            continue;
        };
        let here = vec![key("objects"), key(name), key("project")];
        if object.key.is_some() {
            p.push((
                here.clone(),
                "an object is sealed in a declared project (`project:`) or on a key's own \
                 project (`key:`), not both"
                    .into(),
            ));
        }
        match scenario.projects.get(project) {
            Some(decl) if decl.provider != object.provider => p.push((
                here,
                format!(
                    "project `{project}` is a {} project, not {}",
                    decl.provider, object.provider
                ),
            )),
            Some(_) => {}
            None => p.push((
                here,
                unknown_name(
                    "project",
                    project,
                    scenario.projects.keys().map(String::as_str),
                ),
            )),
        }
    }
}

fn check_documents_names(
    names: &Names<'_>,
    p: &mut Problems,
    base: &[Seg],
    access: &AccessDocuments,
) {
    for cloud in access.clouds() {
        names.provider(p, at(base, &[key(cloud.as_str())]), cloud);
    }
    if let Some(aws) = &access.aws {
        for name in aws.key_policies.keys() {
            let place = at(base, &[key("aws"), key("key_policies"), key(name)]);
            names.key_of(p, place, name, Cloud::Aws);
        }
    }
    if let Some(gcp) = &access.gcp {
        for name in gcp.policies.keys().filter(|n| !n.contains('/')) {
            let place = at(base, &[key("gcp"), key("policies"), key(name)]);
            names.key_of(p, place, name, Cloud::Gcp);
        }
    }
}

/// The names an access edit refers to and the fields it needs.
pub(super) fn check_edit(names: &Names<'_>, p: &mut Problems, arg: &[Seg], edit: &AccessEdit) {
    if let Some(cloud) = edit.cloud() {
        names.provider(p, arg.to_vec(), cloud);
    }
    let needs_name = |p: &mut Problems,
                      policy: PolicyWord,
                      k: &Option<String>,
                      n: &Option<String>| {
        if policy == PolicyWord::Role && n.is_none() {
            p.push((
                arg.to_vec(),
                "a role policy edit needs the policy's `name:`".into(),
            ));
        }
        if policy != PolicyWord::Role && n.is_some() {
            p.push((
                at(arg, &[key("name")]),
                format!("`name` names a role policy; the {policy} policy has none"),
            ));
        }
        match (policy, k) {
            (PolicyWord::Key, Some(k)) => names.key_of(p, at(arg, &[key("key")]), k, Cloud::Aws),
            (PolicyWord::Key, None) => {}
            (_, Some(_)) => p.push((
                at(arg, &[key("key")]),
                format!("`key` names a key policy; the {policy} policy belongs to the role"),
            )),
            (_, None) => {}
        }
    };
    match edit {
        AccessEdit::PutStatement(put) => needs_name(p, put.policy, &put.key, &put.name),
        AccessEdit::RemoveStatement(remove) => {
            needs_name(p, remove.policy, &remove.key, &remove.name);
        }
        AccessEdit::PutBinding(binding) | AccessEdit::RemoveBinding(binding) => {
            check_binding_names(
                names,
                p,
                arg,
                binding,
                matches!(edit, AccessEdit::PutBinding(_)),
            );
        }
        AccessEdit::PutAssignment(assignment) | AccessEdit::RemoveAssignment(assignment) => {
            check_assignment(names, p, arg, assignment);
        }
        AccessEdit::DeleteServicePrincipal(_) => {}
        AccessEdit::PutAccess(documents) => check_documents_names(names, p, arg, documents),
    }
}

fn check_binding_names(
    names: &Names<'_>,
    p: &mut Problems,
    arg: &[Seg],
    binding: &Binding,
    put: bool,
) {
    match (&binding.key, &binding.resource) {
        (Some(_), Some(_)) => p.push((
            at(arg, &[key("resource")]),
            "a binding is on a key (`key:`) or a resource (`resource:`), not both".into(),
        )),
        (Some(k), None) => names.key_of(p, at(arg, &[key("key")]), k, Cloud::Gcp),
        (None, Some(resource)) if !is_policy_resource(resource) => p.push((
            at(arg, &[key("resource")]),
            format!("`{resource}` is not a project or key ring (`projects/P`, `projects/P/locations/L/keyRings/R`)"),
        )),
        _ => {}
    }
    if put && binding.members.as_ref().is_none_or(|m| m.0.is_empty()) {
        p.push((arg.to_vec(), "a binding needs `members:`".into()));
    }
    if !put && binding.condition.is_some() {
        p.push((
            at(arg, &[key("condition")]),
            "a removal takes the role's members out of every binding, conditional or not".into(),
        ));
    }
}

fn is_policy_resource(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(
        parts.as_slice(),
        ["projects", p] | ["projects", p, "locations", _, "keyRings", _] if !p.is_empty()
    ) && parts.iter().all(|s| !s.is_empty())
}

fn check_assignment(names: &Names<'_>, p: &mut Problems, arg: &[Seg], assignment: &Assignment) {
    if assignment.key.is_some() && assignment.scope.is_some() {
        p.push((
            at(arg, &[key("scope")]),
            "an assignment is on a key (`key:`) or a scope (`scope:`), not both".into(),
        ));
    }
    if let Some(k) = &assignment.key {
        names.key_of(p, at(arg, &[key("key")]), k, Cloud::Azure);
    }
    let role = &assignment.role;
    let by_id = role.contains("/roleDefinitions/") || is_guid(role);
    let built_in = ekm_access::azure::rbac::built_in_roles();
    if !by_id && !built_in.iter().any(|r| r.name == *role) {
        p.push((
            at(arg, &[key("role")]),
            unknown_name(
                "built-in role",
                role,
                built_in.iter().map(|r| r.name.as_str()),
            ),
        ));
    }
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests;
