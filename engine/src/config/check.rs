//! What a registration must hold: each field's rule, checked all at once by
//! [`Config::problems`], every problem with its field path and an example of a right value.

use super::{Config, Problem};

impl Config {
    /// Every problem with the configuration (empty when it is usable).
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Checker::default();
        p.check(
            "project_id",
            is_identifier(&self.project_id, 64),
            "must be 1-64 letters, digits, '_' or '-'",
            "proj_demo",
        );
        p.check(
            "engine.dek_rotation",
            !self.engine.dek_rotation.is_zero(),
            "must be longer than zero",
            "24h",
        );
        p.check(
            "engine.revalidate_after",
            !self.engine.revalidate_after.is_zero(),
            "must be longer than zero",
            "1h",
        );
        p.check(
            "engine.cache_capacity",
            self.engine.cache_capacity > 0,
            "must be at least 1",
            "10000",
        );
        if self.aws.is_none() && self.gcp.is_none() && self.azure.is_none() {
            p.problem(
                "aws | gcp | azure",
                "no KMS is registered: give at least one provider",
                "aws: { role_arn: ..., key_arn: ... }",
            );
        }
        if let Some(aws) = &self.aws {
            p.check(
                "aws.role_arn",
                is_role_arn(&aws.role_arn),
                &format!("`{}` is not an IAM role ARN", aws.role_arn),
                "arn:aws:iam::123456789012:role/role-name",
            );
            p.check(
                "aws.key_arn",
                kms_arn_region(&aws.key_arn).is_some(),
                &format!("`{}` is not a KMS key or alias ARN", aws.key_arn),
                "arn:aws:kms:us-east-1:123456789012:key/0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30",
            );
            if let Some(id) = &aws.external_id {
                p.check(
                    "aws.external_id",
                    (2..=1224).contains(&id.len()),
                    "must be 2-1224 characters",
                    "proj_demo",
                );
            }
            p.endpoint(
                "aws.endpoint",
                aws.endpoint.as_deref(),
                "http://127.0.0.1:4599",
            );
            if self.service.aws.is_none() {
                p.problem(
                    "service.aws",
                    "the operator's AWS credentials are missing",
                    "service: { aws: { access_key_id: AKIA..., secret_access_key: ... } }",
                );
            }
        }
        if let Some(gcp) = &self.gcp {
            p.check(
                "gcp.workload_identity_project_number",
                !gcp.workload_identity_project_number.is_empty()
                    && gcp
                        .workload_identity_project_number
                        .bytes()
                        .all(|b| b.is_ascii_digit()),
                "must be the project's number, digits only",
                "123456789",
            );
            for (field, value) in [
                (
                    "gcp.workload_identity_pool_id",
                    &gcp.workload_identity_pool_id,
                ),
                (
                    "gcp.workload_identity_provider_id",
                    &gcp.workload_identity_provider_id,
                ),
            ] {
                p.check(
                    field,
                    is_gcp_id(value, 4, 32),
                    &format!("`{value}` must be 4-32 lowercase letters, digits or '-'"),
                    "ekm-pool",
                );
            }
            p.check(
                "gcp.kms_project_id",
                is_gcp_id(&gcp.kms_project_id, 6, 30),
                &format!(
                    "`{}` must be 6-30 lowercase letters, digits or '-'",
                    gcp.kms_project_id
                ),
                "adjective-noun-12345",
            );
            for (field, value) in [
                ("gcp.key_ring", &gcp.key_ring),
                ("gcp.key_name", &gcp.key_name),
            ] {
                p.check(
                    field,
                    is_identifier(value, 63),
                    &format!("`{value}` must be 1-63 letters, digits, '_' or '-'"),
                    "ekm-key",
                );
            }
            p.check(
                "gcp.location",
                is_gcp_id(&gcp.location, 2, 64),
                &format!("`{}` is not a location", gcp.location),
                "us-east1",
            );
            p.endpoint(
                "gcp.endpoint",
                gcp.endpoint.as_deref(),
                "http://127.0.0.1:4599",
            );
            p.endpoint(
                "gcp.sts_endpoint",
                gcp.sts_endpoint.as_deref(),
                "http://127.0.0.1:4599/v1/token",
            );
            if self.service.gcp.is_none() {
                p.problem(
                    "service.gcp",
                    "the source of the service account's ID token is missing",
                    "service: { gcp: { file: /var/run/ekm/gcp-id-token } }",
                );
            }
        }
        if let Some(azure) = &self.azure {
            p.check(
                "azure.tenant_id",
                is_guid(&azure.tenant_id),
                &format!("`{}` is not a tenant id (a GUID)", azure.tenant_id),
                "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            );
            p.check(
                "azure.vault_uri",
                azure.vault_uri.starts_with("https://") && azure.vault_uri.len() > "https://".len(),
                &format!("`{}` is not an https:// vault URI", azure.vault_uri),
                "https://your-vault-name.vault.azure.net/",
            );
            p.check(
                "azure.key_name",
                !azure.key_name.is_empty()
                    && azure.key_name.len() <= 127
                    && azure
                        .key_name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                &format!("`{}` must be 1-127 letters, digits or '-'", azure.key_name),
                "ekm-key",
            );
            p.endpoint(
                "azure.authority_host",
                azure.authority_host.as_deref(),
                "https://login.microsoftonline.com",
            );
            if self.service.azure.is_none() {
                p.problem(
                    "service.azure",
                    "the operator's app registration is missing",
                    "service: { azure: { client_id: <GUID>, client_secret: ... } }",
                );
            }
        }
        p.problems
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, field: &str, message: &str, example: &'static str) {
        self.problems.push(Problem {
            field: field.to_owned(),
            message: message.to_owned(),
            example,
        });
    }

    fn check(&mut self, field: &str, ok: bool, message: &str, example: &'static str) {
        if !ok {
            self.problem(field, message, example);
        }
    }

    fn endpoint(&mut self, field: &str, value: Option<&str>, example: &'static str) {
        if let Some(url) = value {
            self.check(
                field,
                url.starts_with("http://") || url.starts_with("https://"),
                &format!("`{url}` is not an http:// or https:// URL"),
                example,
            );
        }
    }
}

fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_gcp_id(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty()))
}

/// The region of `arn:PARTITION:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`.
pub fn kms_arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "kms", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (resource
                    .strip_prefix("key/")
                    .is_some_and(|id| !id.is_empty())
                    || resource
                        .strip_prefix("alias/")
                        .is_some_and(|name| !name.is_empty())) =>
        {
            Some(region)
        }
        _ => None,
    }
}
