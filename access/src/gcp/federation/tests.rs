//! Token exchanges over the documented provider rules: issuer, allowed audiences (and the
//! default audience), attribute mapping, attribute condition, disabled providers.

use super::*;
use serde_json::json;

const NAME: &str = "projects/123456/locations/global/workloadIdentityPools/ekm/providers/ekm-oidc";

fn provider(extra: Value) -> Provider {
    let mut doc = json!({
        "name": NAME,
        "attributeMapping": {"google.subject": "assertion.sub", "attribute.project": "assertion.project"},
        "oidc": {"issuerUri": "https://idp.ekm.example", "allowedAudiences": ["ekm-gcp"]}
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Provider::from_value(&doc).unwrap()
}

fn claims(aud: &str, project: &str) -> Map<String, Value> {
    json!({"iss": "https://idp.ekm.example", "aud": aud, "sub": "ekm-service", "project": project})
        .as_object()
        .unwrap()
        .clone()
}

const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ekm/providers/ekm-oidc";

#[test]
fn a_good_token_is_exchanged_for_a_federated_principal() {
    let x = exchange(
        AUDIENCE,
        &[provider(json!({}))],
        &claims("ekm-gcp", "proj_demo"),
    );
    assert!(x.decision.allowed(), "{}", x.decision.explain());
    let f = x.federated.unwrap();
    assert_eq!(
        f.principal,
        "principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ekm/subject/ekm-service"
    );
    assert!(
        f.principal_sets
            .iter()
            .any(|s| s.ends_with("/attribute.project/proj_demo"))
    );
    assert!(
        f.principal_sets
            .iter()
            .any(|s| s.ends_with("workloadIdentityPools/ekm/*"))
    );
    // the https: form of the audience parameter is accepted too
    assert!(
        exchange(
            &format!("https:{AUDIENCE}"),
            &[provider(json!({}))],
            &claims("ekm-gcp", "p")
        )
        .decision
        .allowed()
    );
}

#[test]
fn each_refusal_has_the_sts_error_and_a_trace() {
    let p = provider(json!({"attributeCondition": "attribute.project == 'proj_demo'"}));
    let disabled = provider(json!({"disabled": true}));
    let mut other_issuer = claims("ekm-gcp", "proj_demo");
    other_issuer.insert("iss".into(), json!("https://evil.example"));
    type Case<'a> = (&'a str, Vec<Provider>, Map<String, Value>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "ekm-oidc",
            vec![p.clone()],
            claims("ekm-gcp", "proj_demo"),
            "invalid_request",
            "Invalid value for \"audience\"",
        ),
        (
            AUDIENCE,
            vec![],
            claims("ekm-gcp", "proj_demo"),
            "invalid_target",
            "is invalid",
        ),
        (
            AUDIENCE,
            vec![disabled],
            claims("ekm-gcp", "proj_demo"),
            "invalid_target",
            "disabled",
        ),
        (
            AUDIENCE,
            vec![p.clone()],
            other_issuer,
            "invalid_grant",
            "issuer",
        ),
        (
            AUDIENCE,
            vec![p.clone()],
            claims("someone-else", "proj_demo"),
            "invalid_grant",
            "The audience in ID Token [someone-else] does not match the expected audience.",
        ),
        (
            AUDIENCE,
            vec![p.clone()],
            claims("ekm-gcp", "proj_other"),
            "unauthorized_client",
            "The given credential is rejected by the attribute condition.",
        ),
    ];
    for (audience, providers, claims, error, text) in cases {
        let x = exchange(audience, &providers, &claims);
        assert_eq!(x.error, Some(error), "{audience}: {}", x.decision.explain());
        assert!(
            x.decision.message.as_deref().unwrap().contains(text),
            "{:?}",
            x.decision.message
        );
        assert!(!x.decision.trace.is_empty());
        assert!(x.federated.is_none());
    }
}

#[test]
fn without_allowed_audiences_the_provider_url_is_the_audience() {
    let p = provider(json!({"oidc": {"issuerUri": "https://idp.ekm.example"}}));
    assert!(
        exchange(
            AUDIENCE,
            std::slice::from_ref(&p),
            &claims(&format!("https:{AUDIENCE}"), "p")
        )
        .decision
        .allowed()
    );
    assert_eq!(
        exchange(AUDIENCE, &[p], &claims("ekm-gcp", "p")).error,
        Some("invalid_grant")
    );
}

#[test]
fn a_condition_on_a_missing_claim_rejects() {
    let p = provider(json!({"attributeCondition": "assertion.repository == 'acme/app'"}));
    let x = exchange(AUDIENCE, &[p], &claims("ekm-gcp", "p"));
    assert_eq!(x.error, Some("unauthorized_client"));
    assert!(
        x.decision
            .explain()
            .contains("no such key: assertion.repository"),
        "{}",
        x.decision.explain()
    );
}

#[test]
fn malformed_providers_are_refused_with_the_path() {
    let base = || json!({"name": NAME, "attributeMapping": {"google.subject": "assertion.sub"}, "oidc": {"issuerUri": "https://i"}});
    let mut cases = Vec::new();
    let mut bad_name = base();
    bad_name["name"] = json!("pools/ekm");
    cases.push((bad_name, "$.name"));
    let mut no_subject = base();
    no_subject["attributeMapping"] = json!({"attribute.x": "assertion.x"});
    cases.push((no_subject, "$.attributeMapping"));
    let mut bad_cel = base();
    bad_cel["attributeCondition"] = json!("request.time > 1");
    cases.push((bad_cel, "$.attributeCondition"));
    let mut bad_mapping = base();
    bad_mapping["attributeMapping"] = json!({"google.subject": "assertion.sub + 'x'"});
    cases.push((bad_mapping, "$.attributeMapping.google.subject"));
    let mut many = base();
    many["oidc"]["allowedAudiences"] = json!((0..11).map(|i| i.to_string()).collect::<Vec<_>>());
    cases.push((many, "$.oidc.allowedAudiences"));
    let mut saml = base();
    saml["saml"] = json!({});
    cases.push((saml, "$.saml"));
    for (doc, path) in cases {
        let err = Provider::from_value(&doc).unwrap_err();
        assert_eq!(err.path, path, "{doc}: {err}");
    }
}
