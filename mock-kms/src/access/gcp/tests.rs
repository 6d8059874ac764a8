//! The GCP documents of the demo tenant, the switches as edits of them, etags.

use super::*;
use crate::access::short_trace;

const KEY: &str =
    "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key";
const RING: &str = "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring";

fn demo() -> (Tenant, GcpAccess) {
    let tenant = Tenant::default();
    let access = GcpAccess::from_switches(&tenant, [(KEY, true, true)]);
    (tenant, access)
}

fn claims(aud: &str, sub: &str) -> Map<String, Value> {
    json!({"iss": ISSUER, "aud": aud, "sub": sub})
        .as_object()
        .cloned()
        .unwrap()
}

#[test]
fn the_demo_documents_let_ekm_in_and_the_switches_edit_them() {
    let (tenant, mut access) = demo();
    assert_eq!(access.service_allowed(&tenant, KEY), (true, true));
    access.set_access(&tenant, KEY, true);
    assert_eq!(access.service_allowed(&tenant, KEY), (false, true));
    assert_eq!(access.policy(KEY)["bindings"], json!([]));
    access.set_access(&tenant, KEY, false);
    access.set_access(&tenant, KEY, false);
    assert_eq!(access.service_allowed(&tenant, KEY), (true, true));
    assert_eq!(access.policy(KEY)["bindings"].as_array().unwrap().len(), 1);

    access.set_trust(&tenant, true);
    assert_eq!(access.service_allowed(&tenant, KEY), (true, false));
    let refused = access.exchange(
        &tenant.gcp.sts_audience(),
        &claims("proj_demo", "100000000000000000001"),
    );
    assert_eq!(refused.error, Some("invalid_target"));
    access.set_trust(&tenant, false);
    assert_eq!(access.service_allowed(&tenant, KEY), (true, true));
}

#[test]
fn the_exchange_checks_audience_and_the_attribute_condition() {
    let (tenant, access) = demo();
    let audience = tenant.gcp.sts_audience();
    let ok = access.exchange(&audience, &claims("proj_demo", "100000000000000000001"));
    let federated = ok.federated.expect("exchanged");
    assert_eq!(federated.principal, service_principal(&tenant));
    let other_audience = access.exchange(&audience, &claims("proj_other", "100000000000000000001"));
    assert_eq!(other_audience.error, Some("invalid_grant"));
    assert!(short_trace(&other_audience.decision).contains("allowedAudiences"));
    let stranger = access.exchange(&audience, &claims("proj_demo", "100000000000000000999"));
    assert_eq!(stranger.error, Some("unauthorized_client"));
    assert!(short_trace(&stranger.decision).contains("attributeCondition"));
    let elsewhere = access.exchange(
        &audience.replace("ekm-provider", "other"),
        &claims("proj_demo", "x"),
    );
    assert_eq!(elsewhere.error, Some("invalid_target"));
}

#[test]
fn a_binding_on_another_key_ring_grants_nothing_and_the_trace_says_so() {
    let (tenant, mut access) = demo();
    access.set_access(&tenant, KEY, true);
    let who = federated_identity(&tenant);
    let other_ring = "projects/demo-project-12345/locations/us-east1/keyRings/other";
    let binding =
        json!({"bindings": [{"role": DEMO_ROLE, "members": [service_principal(&tenant)]}]});
    access
        .put_policy(other_ring, binding.clone(), None)
        .unwrap();
    let denied = access
        .kms_call(&who, gcp_access::iam::USE_TO_ENCRYPT, KEY)
        .unwrap_err();
    assert_eq!(
        denied.message.as_deref(),
        Some(format!("Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{KEY}' (or it may not exist).").as_str())
    );
    access.put_policy(RING, binding, None).unwrap();
    assert_eq!(
        access.kms_call(&who, gcp_access::iam::USE_TO_ENCRYPT, KEY),
        Ok(())
    );
    // The whole pool, as a principal set, is EKM too.
    let pool = json!({"bindings": [{"role": "roles/cloudkms.cryptoKeyDecrypter",
        "members": [format!("principalSet://iam.googleapis.com/{}/*", tenant.gcp.pool_name())]}]});
    access
        .put_policy("projects/demo-project-12345", pool, None)
        .unwrap();
    assert_eq!(
        access.kms_call(&who, gcp_access::iam::USE_TO_DECRYPT, KEY),
        Ok(())
    );
}

#[test]
fn custom_roles_grant_their_permissions() {
    let (tenant, mut access) = demo();
    access.set_access(&tenant, KEY, true);
    access
        .add_custom_role(
            json!({"name": "projects/demo-project-12345/roles/ekmEncrypt",
            "includedPermissions": [gcp_access::iam::USE_TO_ENCRYPT]}),
        )
        .unwrap();
    let binding = json!({"bindings": [{"role": "projects/demo-project-12345/roles/ekmEncrypt",
        "members": [service_principal(&tenant)]}]});
    access.put_policy(KEY, binding, None).unwrap();
    let who = federated_identity(&tenant);
    assert_eq!(
        access.kms_call(&who, gcp_access::iam::USE_TO_ENCRYPT, KEY),
        Ok(())
    );
    assert!(
        access
            .kms_call(&who, gcp_access::iam::USE_TO_DECRYPT, KEY)
            .is_err()
    );
    assert!(
        access
            .add_custom_role(json!({"name": "roles/mine"}))
            .is_err()
    );
}

#[test]
fn etags_guard_read_modify_write() {
    let (_, mut access) = demo();
    let read = access.policy(KEY);
    let etag = read["etag"].as_str().unwrap().to_owned();
    let new = access.put_policy(KEY, read.clone(), Some(&etag)).unwrap();
    assert_ne!(new, etag, "every write gets a new etag");
    assert_eq!(
        access.put_policy(KEY, read.clone(), Some(&etag)),
        Err(SetPolicyError::Stale(etag))
    );
    assert!(
        access.put_policy(KEY, read, None).is_ok(),
        "no etag overwrites"
    );
    assert_eq!(access.policy(RING)["etag"], EMPTY_POLICY_ETAG);
    assert!(access.put_policy(RING, json!({}), Some("BwWrong")).is_err());
    assert!(
        access
            .put_policy(RING, json!({}), Some(EMPTY_POLICY_ETAG))
            .is_ok()
    );
}

#[test]
fn bad_policies_and_resources_are_refused_with_their_path() {
    let (_, mut access) = demo();
    let bad = json!({"bindings": [{"role": "cloudkms.admin", "members": ["user:a@b.c"]}]});
    match access.put_policy(KEY, bad, None) {
        Err(SetPolicyError::Invalid(e)) => assert_eq!(e.path, "$.bindings[0].role"),
        other => panic!("{other:?}"),
    }
    let member = json!({"bindings": [{"role": "roles/x", "members": ["robot:r2d2"]}]});
    assert!(matches!(
        access.put_policy(KEY, member, None),
        Err(SetPolicyError::Invalid(_))
    ));
    let condition_v1 = json!({"bindings": [{"role": "roles/x", "members": ["user:a"],
        "condition": {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}}]});
    assert!(matches!(
        access.put_policy(KEY, condition_v1, None),
        Err(SetPolicyError::Invalid(_))
    ));
    assert!(matches!(
        access.put_policy("projects/p/serviceAccounts/x", json!({}), None),
        Err(SetPolicyError::Resource(_))
    ));
    for name in ["projects/p", RING, KEY] {
        assert!(is_policy_resource(name), "{name}");
    }
    for name in [
        "projects/",
        "projects//locations/l/keyRings/r",
        "folders/1",
        KEY.trim_end_matches("ekm-key"),
    ] {
        assert!(!is_policy_resource(name), "{name}");
    }
}

#[test]
fn older_switches_become_documents() {
    let tenant = Tenant::default();
    let access = GcpAccess::from_switches(&tenant, [(KEY, false, false)]);
    assert_eq!(access.service_allowed(&tenant, KEY), (false, false));
    let none = GcpAccess::from_switches(&tenant, []);
    assert!(none.policies().is_empty());
    assert_eq!(none.service_allowed(&tenant, KEY), (false, true));
}
