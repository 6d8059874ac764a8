//! `GET /_mock/v1/access/{cloud}/explain`: what the customer's documents decide for EKM's three
//! conditions on one key — the sign-in, Encrypt and Decrypt — with every step of each decision,
//! and the least-privilege lint of the documents that take part ([`Explanation`]).
//!
//! The request names the key as EKM's registration does (AWS key or alias ARN, `alias/NAME` or
//! key id; GCP crypto key resource name; Azure key name or key URL; or the lab name) and says how
//! EKM signs in ([`SignInAs`]); what it leaves out is what the lab's own registration sends.
//! The decisions come from the same evaluators the wire calls use, with the trace kept.

use std::collections::BTreeMap;

use ekm_access::{Explanation, SignInAs};
use ekm_vocab::Cloud;

use crate::access::aws::{KmsCall, role_caller};
use crate::error::StateError;
use crate::state::{Kms, KmsState};

impl Kms {
    /// Explains EKM's three conditions on `cloud` key `key` for a client signing in as `sign_in`.
    pub fn explain(
        &self,
        cloud: Cloud,
        key: &str,
        sign_in: &SignInAs,
    ) -> Result<Explanation, StateError> {
        let tenant = self.tenant();
        let project = sign_in.project.as_deref().unwrap_or(&tenant.project_id);
        self.read(|state| {
            let name = resolve(self, state, cloud, key)?;
            let key = state.key(&name)?;
            let ([sign_in, encrypt, decrypt], findings) = match cloud {
                Cloud::Aws => {
                    let external_id = sign_in.external_id.as_deref().unwrap_or(&tenant.project_id);
                    let service = crate::access::service_caller(tenant);
                    let trust = state.aws_access.assume_role(
                        &tenant.aws.role_arn,
                        &service,
                        Some(external_id),
                    );
                    let context = BTreeMap::from([("ekm:project".to_owned(), project.to_owned())]);
                    let role = role_caller(tenant, None);
                    let decide = |action| {
                        state.aws_access.kms_decision(
                            tenant,
                            &KmsCall {
                                name: &key.name,
                                key_arn: &key.id,
                                action,
                                caller: &role,
                                encryption_context: &context,
                                token_issued: None,
                            },
                        )
                    };
                    (
                        [trust, decide("kms:Encrypt"), decide("kms:Decrypt")],
                        state.aws_access.lint(tenant, &key.name),
                    )
                }
                Cloud::Gcp => {
                    let provider = sign_in
                        .provider
                        .clone()
                        .unwrap_or_else(|| tenant.gcp.sts_audience());
                    let audience = sign_in.audience.as_deref().unwrap_or(&tenant.project_id);
                    (
                        state
                            .gcp_access
                            .service_decisions(tenant, &key.id, &provider, audience),
                        state.gcp_access.lint(&key.id),
                    )
                }
                Cloud::Azure => {
                    let app_id = sign_in
                        .app_id
                        .as_deref()
                        .unwrap_or(&tenant.azure.service_app_id);
                    (
                        state
                            .azure_access
                            .service_decisions(tenant, &key.id, app_id),
                        state.azure_access.lint(),
                    )
                }
            };
            Ok(Explanation {
                key: name,
                sign_in,
                encrypt,
                decrypt,
                findings,
            })
        })
    }
}

/// The lab name of the `cloud` key a registration names `reference`.
fn resolve(
    kms: &Kms,
    state: &KmsState,
    cloud: Cloud,
    reference: &str,
) -> Result<String, StateError> {
    let of_cloud = |name: &str| state.keys.get(name).is_some_and(|k| k.provider == cloud);
    if of_cloud(reference) {
        return Ok(reference.to_owned());
    }
    let found = match cloud {
        Cloud::Aws => crate::aws::kms::resolve(state, &kms.tenant().aws, reference).ok(),
        Cloud::Gcp => state.key_by_id(cloud, reference).map(|k| k.name.clone()),
        Cloud::Azure => {
            let vault_key = reference
                .strip_prefix(kms.vault_url())
                .and_then(|path| path.strip_prefix("/keys/"))
                .map_or(reference, |rest| rest.split('/').next().unwrap_or(rest));
            state.key_by_id(cloud, vault_key).map(|k| k.name.clone())
        }
    };
    found
        .filter(|name| of_cloud(name))
        .ok_or_else(|| StateError::KeyNotFound(reference.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ekm_access::Verdict;
    use ekm_clock::ManualClock;

    use super::*;
    use crate::keys::KeySpec;
    use crate::tenant::Tenant;

    fn lab() -> Kms {
        let clock = Arc::new(ManualClock::default());
        let kms = Kms::new(clock, Tenant::default(), "https://127.0.0.1:1".into());
        for (name, cloud) in [("a", Cloud::Aws), ("g", Cloud::Gcp), ("z", Cloud::Azure)] {
            kms.create_key(name, cloud, KeySpec::default_for(cloud))
                .expect("a demo key");
        }
        kms
    }

    #[test]
    fn the_demo_tenant_allows_every_condition_and_names_what_decided() {
        let kms = lab();
        for cloud in Cloud::ALL {
            let name = match cloud {
                Cloud::Aws => "a",
                Cloud::Gcp => "g",
                Cloud::Azure => "z",
            };
            let explained = kms.explain(cloud, name, &SignInAs::default()).unwrap();
            for decision in explained.decisions() {
                assert_eq!(decision.verdict, Verdict::Allow, "{cloud}: {decision:?}");
                assert!(decision.decided_by.is_some(), "{cloud}: {decision:?}");
                assert!(!decision.trace.is_empty(), "{cloud}: the trace is kept");
            }
        }
    }

    #[test]
    fn a_wrong_external_id_is_denied_by_the_trust_policy_with_the_value_sent() {
        let kms = lab();
        let sign_in = SignInAs {
            external_id: Some("someone-else".into()),
            ..SignInAs::default()
        };
        let explained = kms.explain(Cloud::Aws, "a", &sign_in).unwrap();
        assert_ne!(explained.sign_in.verdict, Verdict::Allow);
        assert!(
            explained.sign_in.explain().contains("someone-else"),
            "{}",
            explained.sign_in.explain()
        );
        assert_eq!(explained.encrypt.verdict, Verdict::Allow);
    }

    #[test]
    fn revoked_access_is_an_explicit_deny_by_the_lab_statement() {
        let kms = lab();
        kms.apply("g", ekm_vocab::KeyAction::RevokeAccess).unwrap();
        kms.apply("a", ekm_vocab::KeyAction::RevokeAccess).unwrap();
        let aws = kms.explain(Cloud::Aws, "a", &SignInAs::default()).unwrap();
        assert_eq!(aws.decrypt.verdict, Verdict::ExplicitDeny);
        let by = aws.decrypt.decided_by.expect("a statement decided");
        assert!(
            by.part.contains(crate::access::ACCESS_REVOKED_SID),
            "{by:?}"
        );
        let gcp = kms.explain(Cloud::Gcp, "g", &SignInAs::default()).unwrap();
        assert_eq!(gcp.encrypt.verdict, Verdict::ImplicitDeny);
        assert_eq!(gcp.sign_in.verdict, Verdict::Allow);
    }

    #[test]
    fn keys_are_found_as_registrations_name_them() {
        let kms = lab();
        let (arn, resource, azure_id) = kms.read(|state| {
            (
                state.key("a").unwrap().id.clone(),
                state.key("g").unwrap().id.clone(),
                kms.display_id(state.key("z").unwrap()),
            )
        });
        let none = SignInAs::default();
        assert_eq!(kms.explain(Cloud::Aws, &arn, &none).unwrap().key, "a");
        assert_eq!(kms.explain(Cloud::Gcp, &resource, &none).unwrap().key, "g");
        assert_eq!(
            kms.explain(Cloud::Azure, &azure_id, &none).unwrap().key,
            "z"
        );
        assert!(matches!(
            kms.explain(Cloud::Aws, "g", &none),
            Err(StateError::KeyNotFound(_))
        ));
        assert!(matches!(
            kms.explain(
                Cloud::Gcp,
                "projects/p/locations/l/keyRings/r/cryptoKeys/none",
                &none
            ),
            Err(StateError::KeyNotFound(_))
        ));
    }
}
