//! The access documents and projects a scenario starts with: its `access:` documents put in
//! place of the demo tenant's, cloud by cloud (through the lab's `access_documents` /
//! `set_access_documents`, the control API's shape), and its other projects registered on the
//! engine, each on its key. A step's `put-access` puts documents the same way; its other edits
//! are `access.rs`'.

use std::collections::BTreeMap;

use ekm_engine::ProjectId;
use ekm_lab::{EmbeddedLab, LabError, OtherProject};
use serde_json::{Value, json};

use super::RunError;
use super::setup::connect_project;
use crate::schema::{AccessDocuments, Cloud, Document, OneOrMany, Scenario, demo_key};

/// Registers the scenario's declared projects on its engine, each on its key, as `ID/NAME`.
pub(super) async fn register_projects(
    lab: &EmbeddedLab,
    scenario: &Scenario,
) -> Result<BTreeMap<String, ProjectId>, RunError> {
    let mut projects = BTreeMap::new();
    for (name, decl) in &scenario.projects {
        let key = decl
            .key
            .clone()
            .unwrap_or_else(|| demo_key(decl.provider).to_owned());
        let other = OtherProject {
            project_id: decl.project_id.clone(),
            gcp_subject: decl.subject.clone(),
        };
        let id = decl
            .project_id
            .as_deref()
            .unwrap_or(&lab.config().project_id);
        let project = ProjectId::from(format!("{id}/{name}").as_str());
        connect_project(lab, decl.provider, &key, &other, project.clone()).await?;
        projects.insert(name.clone(), project);
    }
    Ok(projects)
}

/// Replaces the documents `documents` gives, cloud by cloud.
pub(super) fn put_documents(
    lab: &EmbeddedLab,
    documents: &AccessDocuments,
) -> Result<(), LabError> {
    if let Some(aws) = &documents.aws {
        let mut current = lab.access_documents(Cloud::Aws);
        if let Some(trust) = &aws.trust_policy {
            current["trust_policy"] = trust.json.clone();
        }
        for (field, given) in [
            ("role_policies", &aws.role_policies),
            ("key_policies", &aws.key_policies),
        ] {
            for (name, doc) in given {
                current[field][name.as_str()] = doc.json.clone();
            }
        }
        lab.set_access_documents(Cloud::Aws, current)?;
    }
    if let Some(gcp) = &documents.gcp {
        let mut current = lab.access_documents(Cloud::Gcp);
        if let Some(providers) = &gcp.providers {
            let by_name: serde_json::Map<String, Value> = flatten(providers)
                .into_iter()
                .map(|p| (p["name"].as_str().unwrap_or_default().to_owned(), p))
                .collect();
            current["providers"] = Value::Object(by_name);
        }
        for (name, doc) in &gcp.policies {
            let resource = if name.contains('/') {
                name.clone()
            } else {
                lab.key(name)?.id
            };
            current["policies"][resource.as_str()] = json!({"policy": doc.json});
        }
        if let Some(roles) = &gcp.custom_roles {
            current["custom_roles"] = Value::Array(flatten(roles));
        }
        lab.set_access_documents(Cloud::Gcp, current)?;
    }
    if let Some(azure) = &documents.azure {
        let mut current = lab.access_documents(Cloud::Azure);
        for (field, given) in [
            ("service_principals", &azure.service_principals),
            ("role_definitions", &azure.role_definitions),
            ("role_assignments", &azure.role_assignments),
        ] {
            if let Some(list) = given {
                current[field] = Value::Array(flatten(list));
            }
        }
        if let Some(vault) = &azure.vault {
            current["vault"] = vault.json.clone();
        }
        lab.set_access_documents(Cloud::Azure, current)?;
    }
    Ok(())
}

/// The documents of a list field, a document holding a JSON list giving each of its entries.
fn flatten(documents: &OneOrMany<Document>) -> Vec<Value> {
    documents
        .0
        .iter()
        .flat_map(|doc| match &doc.json {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        })
        .collect()
}
