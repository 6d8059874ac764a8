//! What deciding a call costs: the AWS KMS decision (key policy delegating to a role policy with
//! an encryption-context condition) with its trace and without (`kms_allows`, the hot path of a
//! server), the GCP permission decision through inherited bindings and
//! the Azure RBAC decision — each against a baseline measured in the same run: parsing the JSON
//! body of one KMS Encrypt request, which the mock does for every call anyway.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ekm_access::aws::{
    Caller, Context, Named, Policy, PolicyKind, Request, default_key_policy, kms_allows, kms_call,
};
use ekm_access::gcp::iam::{CustomRoles, IamPolicy, Identity, Member, USE_TO_ENCRYPT, authorize};
use serde_json::{Value, json};

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ENCRYPT_BODY: &str = r#"{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","EncryptionContext":{"project":"proj_demo","purpose":"ekm"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#;

fn decisions(c: &mut Criterion) {
    let key_policy = default_key_policy("111122223333");
    let role_policy = Policy::parse(
        PolicyKind::Identity,
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"{KEY}","Condition":{{"StringEquals":{{"kms:EncryptionContext:project":"proj_demo"}}}}}}]}}"#),
    )
    .expect("the bench's role policy parses");
    let caller = Caller {
        account: "111122223333".into(),
        arn: "arn:aws:iam::111122223333:role/ekm".into(),
        session: Some("arn:aws:sts::111122223333:assumed-role/ekm/s".into()),
    };
    let gcp_key = "projects/p/locations/global/keyRings/ekm/cryptoKeys/k";
    let policies = BTreeMap::from([(
        "projects/p/locations/global/keyRings/ekm".to_owned(),
        IamPolicy::from_value(&json!({"bindings": [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": ["serviceAccount:ekm@p.iam.gserviceaccount.com"]}]})).expect("the bench's IAM policy parses"),
    )]);
    let who = Identity {
        shown: "serviceAccount:ekm@p.iam.gserviceaccount.com".into(),
        names: vec![Member::ServiceAccount(
            "ekm@p.iam.gserviceaccount.com".into(),
        )],
    };

    let mut group = c.benchmark_group("decision");
    group.bench_function("baseline: parse one Encrypt request body", |b| {
        b.iter(|| {
            black_box(serde_json::from_str::<Value>(black_box(ENCRYPT_BODY)).map(|v| v.is_object()))
        })
    });
    // One Encrypt by a role session, decided with the trace (`kms_call`) or without it.
    let encrypt = |traced: bool| {
        let context =
            Context::new().with_encryption_context([("project", "proj_demo"), ("purpose", "ekm")]);
        let req = Request {
            action: "kms:Encrypt",
            resource: KEY,
            caller: &caller,
            context: &context,
        };
        let identity = [Named {
            name: "role policy",
            policy: &role_policy,
        }];
        let key = Named {
            name: "key policy",
            policy: &key_policy,
        };
        if traced {
            kms_call(key, &identity, &req).allowed()
        } else {
            kms_allows(key, &identity, &req)
        }
    };
    group.bench_function(
        "aws kms:Encrypt (key policy + role policy + context)",
        |b| b.iter(|| black_box(encrypt(true))),
    );
    group.bench_function(
        "aws kms:Encrypt, no trace (kms_allows: the hot path)",
        |b| b.iter(|| black_box(encrypt(false))),
    );
    group.bench_function("gcp useToEncrypt (inherited binding)", |b| {
        b.iter(|| {
            black_box(
                authorize(
                    &policies,
                    &CustomRoles::default(),
                    &who,
                    USE_TO_ENCRYPT,
                    gcp_key,
                )
                .allowed(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
