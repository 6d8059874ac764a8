//! What a step does: seal and read named objects, change a key, repoint the AWS alias, switch a
//! project to another key. Faults and traffic have modules of their own.

use ekm_engine::{ObjectName, ProjectId};

use super::outcome::{Done, error_kind};
use super::timers::RevocationCause;
use super::wording::{describe, key_state, version_state};
use super::{Playback, Sealed, object_context};
use crate::report::Check;
use crate::report::trace::{Marker, MarkerKind, Read, Seal};
use crate::schema::{
    Action, Cloud, ErrorKind, ExternalKeyAction, KeyAction, VersionAction, VersionStep,
};

impl Playback {
    /// Performs a step's action; a key or fault event that took effect becomes a trace marker.
    pub(super) async fn act(&mut self, action: &Action) -> Done {
        let before = matches!(action, Action::Access(_)).then(|| self.grants());
        let mut done = self.act_unmarked(action).await;
        let kind = match action {
            Action::Access(_) => before.and_then(|before| self.settle_access(before, &mut done)),
            Action::Key {
                action: KeyAction::Rotate,
                ..
            } => Some(MarkerKind::Rotate),
            Action::Key { action, .. } if action.revokes() => Some(MarkerKind::Revoke),
            Action::Key { action, .. } if action.undoes().is_some() => Some(MarkerKind::Restore),
            Action::Version(step) if step.action.revokes() => Some(MarkerKind::Revoke),
            Action::Version(_) => Some(MarkerKind::Restore),
            Action::AliasSwap(_) | Action::SwitchKey(_) => Some(MarkerKind::Revoke),
            Action::ExternalKey(step) if step.action == ExternalKeyAction::Enable => {
                Some(MarkerKind::Restore)
            }
            Action::ExternalKey(_) => Some(MarkerKind::Revoke),
            Action::Fault(_) | Action::HsmFleet(_) | Action::HopFault(_) => Some(MarkerKind::Fault),
            _ => None,
        };
        self.mark(action, kind.filter(|_| done.outcome.is_ok()));
        done
    }

    fn mark(&mut self, action: &Action, kind: Option<MarkerKind>) {
        if let Some(kind) = kind {
            self.trace.markers.push(Marker {
                at: self.elapsed(),
                kind,
                label: describe(action),
            });
        }
    }

    async fn act_unmarked(&mut self, action: &Action) -> Done {
        match action {
            Action::Encrypt(objects) => self.each_object(ObjectVerb::Seal, objects).await,
            Action::Decrypt(objects) => self.each_object(ObjectVerb::Read, objects).await,
            Action::ReadAll => {
                let all: Vec<String> = self.objects.keys().cloned().collect();
                if all.is_empty() {
                    return Done::ok("nothing encrypted yet");
                }
                self.each_object(ObjectVerb::Read, &all).await
            }
            Action::Traffic(traffic) => self.traffic(traffic).await,
            Action::FleetTraffic(workload) => self.fleet_traffic(workload).await,
            Action::Key { action, key } => self.key_action(*action, key),
            Action::Version(step) => self.version_action(step),
            Action::AliasSwap(swap) => {
                let old = self.alias_target.clone();
                match self.lab.set_alias(&swap.alias, &swap.to) {
                    Ok(()) => {
                        self.alias_target = swap.to.clone();
                        if !self.registered.contains_key(&Cloud::Aws) {
                            self.revoke(
                                &old,
                                RevocationCause::AliasSwap,
                                &format!("alias-swap away from {old}"),
                            );
                            self.undo(&swap.to, RevocationCause::AliasSwap);
                        }
                        Done::ok(format!("alias/{} now points at {}", swap.alias, swap.to))
                    }
                    Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
                }
            }
            Action::SwitchKey(switch) => {
                let old = self.current_key(switch.provider);
                match self.lab.switch_key(switch.provider, &switch.to).await {
                    Ok(reference) => {
                        self.registered.insert(switch.provider, switch.to.clone());
                        if old != switch.to {
                            self.revoke(
                                &old,
                                RevocationCause::SwitchKey,
                                &format!("switch-key away from {old}"),
                            );
                        }
                        self.undo(&switch.to, RevocationCause::SwitchKey);
                        Done::ok(format!(
                            "{} project now registered on {reference}",
                            switch.provider
                        ))
                    }
                    Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
                }
            }
            Action::Fault(fault) => self.add_fault(fault),
            Action::ExternalKey(step) => self.external_key_action(step),
            Action::HsmFleet(fleet) => self.hsm_fleet(fleet),
            Action::HopFault(fault) => self.hop_fault(fault),
            Action::Access(edit) => self.access_edit(edit),
        }
    }

    fn key_action(&mut self, action: KeyAction, key: &str) -> Done {
        match self.lab.apply(key, action) {
            Ok(info) => {
                if action.revokes() {
                    self.revoke(
                        key,
                        RevocationCause::Key(action),
                        &format!("{} {key}", action.as_str()),
                    );
                }
                if let Some(undone) = action.undoes() {
                    self.undo(key, RevocationCause::Key(undone));
                }
                if action == KeyAction::RevokeSessions {
                    self.sessions_revoked(info.provider);
                }
                Done::ok(key_state(key, &info))
            }
            Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
        }
    }

    /// A version action: the step names the version by its place among the key's versions.
    fn version_action(&mut self, step: &VersionStep) -> Done {
        let key = &step.key;
        let label = format!("{} {key} version {}", step.action.as_str(), step.version);
        let id = match self.lab.key(key) {
            Ok(info) => match usize::try_from(step.version)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| info.versions.get(i))
            {
                Some(id) => id.clone(),
                None => {
                    let count = info.versions.len();
                    return Done::failed(
                        ErrorKind::Refused,
                        format!(
                            "{key} has {count} version(s); there is no version {}",
                            step.version
                        ),
                    );
                }
            },
            Err(e) => return Done::failed(ErrorKind::Refused, e.to_string()),
        };
        match self.lab.apply_version(key, &id, step.action) {
            Ok(info) => {
                let cause = RevocationCause::Version(step.action, id.clone());
                if step.action.revokes() {
                    self.revoke(key, cause, &label);
                } else {
                    for undone in [VersionAction::Disable, VersionAction::Destroy] {
                        self.undo(key, RevocationCause::Version(undone, id.clone()));
                    }
                }
                Done::ok(version_state(key, step.version, &id, &info))
            }
            Err(e) => Done::failed(ErrorKind::Refused, e.to_string()),
        }
    }

    /// Seals or reads each object in turn; the first failure is the step's outcome, and the
    /// detail lists what succeeded and what failed.
    async fn each_object(&mut self, verb: ObjectVerb, objects: &[String]) -> Done {
        let (done_word, failed_word) = verb.words();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let mut first_error = None;
        for name in objects {
            let result = match verb {
                ObjectVerb::Seal => self
                    .encrypt_one(name)
                    .await
                    .map(|key| format!("{name} under {key}")),
                ObjectVerb::Read => self.open(name).await.map(|()| name.clone()),
            };
            match result {
                Ok(line) => done.push(line),
                Err((kind, message)) => {
                    failed.push(format!("{name}: {kind}"));
                    first_error.get_or_insert((kind, message));
                }
            }
        }
        let mut parts = Vec::new();
        if !done.is_empty() {
            parts.push(format!("{done_word} {}", done.join(", ")));
        }
        if !failed.is_empty() {
            parts.push(format!("{failed_word} {}", failed.join(", ")));
        }
        Done::with_first_error(parts.join("; "), first_error)
    }

    /// The project an object is sealed for and opened as.
    fn object_project(&self, name: &str) -> Result<(Cloud, ProjectId), (ErrorKind, String)> {
        let decl = self
            .scenario
            .objects
            .get(name)
            .ok_or_else(|| (ErrorKind::Other, format!("unknown object `{name}`")))?;
        let provider = decl.provider;
        let project = match (&decl.project, &decl.key) {
            (Some(name), _) => self.declared_projects.get(name).cloned(),
            (None, Some(key)) => self.extra_projects.get(key).cloned(),
            (None, None) => self.project(provider),
        }
        .ok_or_else(|| {
            (
                ErrorKind::NoProvider,
                format!("{provider} is not registered"),
            )
        })?;
        Ok((provider, project))
    }

    /// Seals and stores one object; returns the lab key that wrapped its DEK.
    async fn encrypt_one(&mut self, name: &str) -> Result<String, (ErrorKind, String)> {
        let (provider, project) = self.object_project(name)?;
        let decl = &self.scenario.objects[name];
        let object = ObjectName::new(name).map_err(|e| (ErrorKind::Store, e.to_string()))?;
        let content = decl.content.clone();
        let engine = self.lab.engine();
        engine
            .put(&object, &project, &object_context(name), content.as_bytes())
            .await
            .map_err(|e| (error_kind(&e), format!("{name}: {e}")))?;
        let envelope = engine
            .store()
            .get(&object)
            .map_err(|e| (ErrorKind::Store, format!("{name}: {e}")))?;
        if let Some(audit) = &mut self.audit
            && let Err(error) = audit.learn(&self.lab, &envelope)
        {
            self.deferred_checks.push(Check {
                expected: format!("the auditor recovers the DEK of {name}"),
                actual: error.to_string(),
                passed: false,
            });
        }
        let (key, version) = self.lab.wrapping_key(&envelope).map_or_else(
            |_| (self.current_key(provider), None),
            |k| (k.key, Some(k.version)),
        );
        self.trace.seals.push(Seal {
            at: self.elapsed(),
            object: name.to_owned(),
            provider: provider.to_string(),
            key: key.clone(),
        });
        self.objects.insert(
            name.to_owned(),
            Sealed {
                key: key.clone(),
                version,
            },
        );
        Ok(key)
    }

    /// Opens one object: `Ok` or the error kind and message; the read goes into the trace.
    pub(super) async fn open(&mut self, name: &str) -> Result<(), (ErrorKind, String)> {
        let before = self.lab.calls_since(self.call_seq).next;
        let result = self.open_untraced(name).await;
        let page = self.lab.calls_since(before);
        let kms_calls = page.calls.iter().filter(|c| c.hop.is_none()).count();
        self.trace.reads.push(Read {
            at: self.elapsed(),
            object: name.to_owned(),
            outcome: match &result {
                Ok(()) => "ok".to_owned(),
                Err((kind, _)) => kind.to_string(),
            },
            kms_calls,
        });
        result
    }

    async fn open_untraced(&self, name: &str) -> Result<(), (ErrorKind, String)> {
        let object = ObjectName::new(name).map_err(|e| (ErrorKind::Store, e.to_string()))?;
        let (_, project) = self.object_project(name)?;
        let plaintext = self
            .lab
            .engine()
            .get(&object, &project, &object_context(name))
            .await
            .map_err(|e| (error_kind(&e), e.to_string()))?;
        let expected = self
            .scenario
            .objects
            .get(name)
            .map(|o| o.content.as_bytes());
        if Some(plaintext.as_slice()) == expected {
            Ok(())
        } else {
            Err((
                ErrorKind::Envelope,
                format!("{name} opened to different content"),
            ))
        }
    }
}

/// What a data step does to each of its objects.
#[derive(Debug, Clone, Copy)]
enum ObjectVerb {
    /// `encrypt:` — seal and store.
    Seal,
    /// `decrypt:` / `read-all:` — read back and compare.
    Read,
}

impl ObjectVerb {
    /// How the step's detail names the objects it succeeded and failed on.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            ObjectVerb::Seal => ("sealed", "failed"),
            ObjectVerb::Read => ("read", "unreadable"),
        }
    }
}
