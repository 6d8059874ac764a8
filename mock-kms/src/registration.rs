//! The `ekm.yaml` a client needs to use this mock as its KMS: the tenant's registration
//! parameters (role, ExternalId = project id, keys, workload identity, Azure tenant, the
//! session lifetimes the engine renews its sign-ins by) with this
//! process's own listener addresses and CA file — what `mock-kms --write-config PATH` writes, so
//! `ekm check --config PATH` works at once. The format is `ekm.yaml`'s (see
//! `ekm.example.yaml`); the mock only writes the text, it does not depend on the engine.

use std::net::SocketAddr;
use std::path::Path;

use crate::tenant::Tenant;

/// The registration text for `tenant` served at `http` / `https`, trusting `ca_cert`.
pub fn ekm_yaml(tenant: &Tenant, http: SocketAddr, https: SocketAddr, ca_cert: &Path) -> String {
    let (aws, gcp, azure) = (&tenant.aws, &tenant.gcp, &tenant.azure);
    let yaml_str = |text: &str| serde_json::to_string(text).unwrap_or_default();
    format!(
        "# Written by mock-kms --write-config for the mock at http://{http} and https://{https}.\n\
         # Use it with: ekm check --config THIS_FILE\n\
         project_id: {project}            # AWS ExternalId and GCP allowed audience\n\
         \n\
         service:                         # the operator's own identity in each cloud\n\
         \x20 aws: {{ access_key_id: {aws_key}, secret_access_key: {aws_secret} }}\n\
         \x20 gcp: {{ lab_identity_provider: \"http://{http}/_mock/v1/identity/gcp-id-token\" }}\n\
         \x20 azure: {{ client_id: {azure_app}, client_secret: {azure_secret} }}\n\
         \n\
         aws:\n\
         \x20 role_arn: {role}\n\
         \x20 key_arn: arn:aws:kms:{region}:{account}:alias/{alias}\n\
         \x20 endpoint: http://{http}\n\
         \x20 session_lifetime: {aws_session}s      # this mock's role sessions (tenant.sessions)\n\
         \n\
         gcp:\n\
         \x20 workload_identity_project_number: \"{wif_number}\"\n\
         \x20 workload_identity_pool_id: {wif_pool}\n\
         \x20 workload_identity_provider_id: {wif_provider}\n\
         \x20 kms_project_id: {kms_project}\n\
         \x20 key_ring: {key_ring}\n\
         \x20 key_name: {gcp_key}\n\
         \x20 location: {location}\n\
         \x20 endpoint: http://{http}\n\
         \x20 sts_endpoint: http://{http}/v1/token\n\
         \x20 session_lifetime: {gcp_session}s\n\
         \n\
         azure:\n\
         \x20 tenant_id: {azure_tenant}\n\
         \x20 vault_uri: https://{https}/\n\
         \x20 key_name: {azure_key}\n\
         \x20 authority_host: https://{https}\n\
         \x20 ca_file: {ca}\n\
         \x20 session_lifetime: {azure_session}s\n",
        project = yaml_str(&tenant.project_id),
        aws_key = yaml_str(&aws.service_access_key_id),
        aws_secret = yaml_str(&aws.service_secret_access_key),
        azure_app = yaml_str(&azure.service_app_id),
        azure_secret = yaml_str(&azure.service_client_secret),
        role = yaml_str(&aws.role_arn),
        region = aws.region,
        account = aws.account_id,
        alias = aws.demo_alias,
        wif_number = gcp.wif_project_number,
        wif_pool = yaml_str(&gcp.wif_pool),
        wif_provider = yaml_str(&gcp.wif_provider),
        kms_project = yaml_str(&gcp.kms_project),
        key_ring = yaml_str(&gcp.key_ring),
        gcp_key = yaml_str(&gcp.demo_key),
        location = yaml_str(&gcp.location),
        azure_tenant = yaml_str(&azure.tenant_id),
        azure_key = yaml_str(&azure.demo_key),
        ca = yaml_str(&ca_cert.display().to_string()),
        aws_session = tenant.sessions.aws,
        gcp_session = tenant.sessions.gcp,
        azure_session = tenant.sessions.azure,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LabConfig;

    /// Each cloud's `session_lifetime` is the tenant's (`tenant.sessions` of a `--config`), in
    /// its own section, so `ekm check` and the engine's renewal follow the mock's sessions.
    #[test]
    fn each_cloud_registers_the_tenants_session_lifetime() {
        let config =
            LabConfig::parse("tenant:\n  sessions: { aws: 7200, gcp: 1800, azure: 5400 }\n")
                .unwrap();
        let yaml = ekm_yaml(
            &config.tenant,
            "127.0.0.1:4599".parse().unwrap(),
            "127.0.0.1:4600".parse().unwrap(),
            Path::new("ca.pem"),
        );
        for (cloud, next, seconds) in [
            ("aws", "\ngcp:\n", 7200),
            ("gcp", "\nazure:\n", 1800),
            ("azure", "", 5400),
        ] {
            let start = yaml.find(&format!("\n{cloud}:\n")).expect("a section");
            let section = &yaml[start..];
            let section = section[1..]
                .find(next)
                .filter(|_| !next.is_empty())
                .map_or(section, |end| &section[..=end]);
            assert!(
                section.contains(&format!("session_lifetime: {seconds}s")),
                "{cloud}: {section}"
            );
        }
    }
}
