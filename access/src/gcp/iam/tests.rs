//! Cloud KMS permission decisions: roles, inheritance down the hierarchy, members, conditions.

use super::*;

const KEY: &str = "projects/p/locations/global/keyRings/ekm/cryptoKeys/k";
const SA: &str = "ekm@p.iam.gserviceaccount.com";

fn who() -> Identity {
    Identity {
        shown: format!("serviceAccount:{SA}"),
        names: vec![
            Member::ServiceAccount(SA.into()),
            Member::PrincipalSet("principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ekm/*".into()),
        ],
    }
}

fn at(level: &str, policy: Value) -> BTreeMap<String, IamPolicy> {
    BTreeMap::from([(level.to_owned(), IamPolicy::from_value(&policy).unwrap())])
}

/// The traced decision, checked against the traceless one the hot path uses.
fn decide(policies: &BTreeMap<String, IamPolicy>, permission: &str) -> Decision {
    let roles = CustomRoles::default();
    let decision = authorize(policies, &roles, &who(), permission, KEY);
    assert_eq!(
        allows(policies, &roles, &who(), permission, KEY),
        decision.allowed(),
        "the quiet path agrees: {decision:?}"
    );
    decision
}

#[test]
fn roles_grant_their_documented_permissions() {
    let table = [
        ("roles/cloudkms.cryptoKeyEncrypterDecrypter", true, true),
        ("roles/cloudkms.cryptoKeyEncrypter", true, false),
        ("roles/cloudkms.cryptoKeyDecrypter", false, true),
        ("roles/cloudkms.cryptoOperator", true, true),
        // the admin role excludes crypto operations
        ("roles/cloudkms.admin", false, false),
        ("roles/cloudkms.viewer", false, false),
        // a role the lab does not model grants nothing
        ("roles/editor", false, false),
    ];
    for (role, encrypt, decrypt) in table {
        let p = at(
            KEY,
            json!({"bindings": [{"role": role, "members": [format!("serviceAccount:{SA}")]}]}),
        );
        assert_eq!(decide(&p, USE_TO_ENCRYPT).allowed(), encrypt, "{role}");
        assert_eq!(decide(&p, USE_TO_DECRYPT).allowed(), decrypt, "{role}");
    }
}

#[test]
fn bindings_are_inherited_down_the_hierarchy_not_sideways() {
    let binding = json!({"bindings": [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [format!("serviceAccount:{SA}")]}]});
    for level in [
        "projects/p",
        "projects/p/locations/global/keyRings/ekm",
        KEY,
    ] {
        assert!(
            decide(&at(level, binding.clone()), USE_TO_ENCRYPT).allowed(),
            "{level}"
        );
    }
    for elsewhere in [
        "projects/q",
        "projects/p/locations/global/keyRings/other",
        "projects/p/locations/global/keyRings/ekm/cryptoKeys/k2",
    ] {
        let d = decide(&at(elsewhere, binding.clone()), USE_TO_ENCRYPT);
        assert_eq!(d.verdict, Verdict::ImplicitDeny, "{elsewhere}");
        assert_eq!(
            d.message.as_deref(),
            Some(
                "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource 'projects/p/locations/global/keyRings/ekm/cryptoKeys/k' (or it may not exist)."
            )
        );
    }
}

#[test]
fn members_name_the_caller_or_not() {
    let cases = [
        (
            "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ekm/*",
            true,
        ),
        (
            "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/*",
            false,
        ),
        ("serviceAccount:other@p.iam.gserviceaccount.com", false),
        ("user:alice@example.com", false),
        ("allUsers", true),
    ];
    for (member, allowed) in cases {
        let p = at(
            KEY,
            json!({"bindings": [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [member]}]}),
        );
        assert_eq!(decide(&p, USE_TO_DECRYPT).allowed(), allowed, "{member}");
    }
}

#[test]
fn custom_roles_and_conditions() {
    let mut roles = CustomRoles::default();
    roles
        .add(&json!({"name": "projects/p/roles/ekmWrap", "includedPermissions": [USE_TO_ENCRYPT]}))
        .unwrap();
    let p = at(
        KEY,
        json!({"bindings": [{"role": "projects/p/roles/ekmWrap", "members": [format!("serviceAccount:{SA}")]}]}),
    );
    assert!(authorize(&p, &roles, &who(), USE_TO_ENCRYPT, KEY).allowed());
    assert!(!authorize(&p, &roles, &who(), USE_TO_DECRYPT, KEY).allowed());

    let conditional = |expr: &str| {
        at(
            "projects/p",
            json!({"version": 3, "bindings": [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [format!("serviceAccount:{SA}")], "condition": {"title": "ekm ring", "expression": expr}}]}),
        )
    };
    assert!(
        decide(
            &conditional("resource.name.startsWith('projects/p/locations/global/keyRings/ekm/')"),
            USE_TO_ENCRYPT
        )
        .allowed()
    );
    let d = decide(
        &conditional("resource.name.startsWith('projects/p/locations/global/keyRings/other/')"),
        USE_TO_ENCRYPT,
    );
    assert!(!d.allowed());
    assert!(
        d.explain().contains("condition `ekm ring` is false"),
        "{}",
        d.explain()
    );
}

#[test]
fn malformed_policies_are_refused_with_the_path() {
    let cases = [
        (
            json!({"bindings": [{"role": "cloudkms.admin", "members": ["allUsers"]}]}),
            "$.bindings[0].role",
        ),
        (
            json!({"bindings": [{"role": "roles/x", "members": ["robot:x"]}]}),
            "$.bindings[0].members[0]",
        ),
        (json!({"bindings": [{"role": "roles/x"}]}), "$.bindings[0]"),
        (
            json!({"version": 1, "bindings": [{"role": "roles/x", "members": ["allUsers"], "condition": {"expression": "true"}}]}),
            "$.bindings[0].condition",
        ),
        (
            json!({"version": 3, "bindings": [{"role": "roles/x", "members": ["allUsers"], "condition": {"expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}}]}),
            "$.bindings[0].condition.expression",
        ),
        (json!({"version": 2}), "$.version"),
        (json!({"bindingz": []}), "$.bindingz"),
    ];
    for (doc, path) in cases {
        let err = IamPolicy::from_value(&doc).unwrap_err();
        assert_eq!(err.path, path, "{doc}: {err}");
    }
}
