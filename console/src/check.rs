//! `ekm check`: the seed's three access conditions for every configured provider — (1) the
//! service identity is trusted, (2) a policy with Encrypt/Decrypt exists, (3) it is assigned to
//! that identity — verified by doing what the engine does: signing in, wrapping a throw-away
//! DEK, unwrapping it.
//!
//! It never reports what it did not verify. Step 1 passes only when a sign-in succeeded: the
//! KMS answered a call made with the session (AssumeRole, the GCP STS exchange or the Entra
//! token), even if it then refused the key. Every other outcome is its own [`Verdict`] with a
//! hint naming the exact thing to change: the endpoint cannot be reached (checked with a TCP
//! connection to each endpoint first), the operator's secret was refused, the customer's trust
//! refused the sign-in (naming the ExternalId / audience the call sent and the one the trust
//! needs), the key is disabled or pending deletion or missing, the permission is missing or not
//! assigned, or the KMS did not answer.
//!
//! The cloud's own error code is read from the provider's error message (`AccessDenied`,
//! `invalid_grant`, `AADSTS700016`, …): the engine's [`KmsError`] classes say what kind of
//! failure it was, the code says which trust document refused.
//!
//! After its verdicts each cloud states the two revocation bounds of its registration
//! ([`revocation`]): permission removal, and trust removal with the session that lives on.

pub mod revocation;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ekm_engine::clock::{SharedClock, SystemClock};
use ekm_engine::config::Config;
use ekm_engine::dek_cache::WRAP_CONTEXT_PROJECT;
use ekm_engine::registration::{self, Cloud};
use ekm_engine::{Dek, EncryptionContext, KmsError};
use ekm_vocab::KmsErrorKind;
use revocation::RevocationBounds;

/// The outcome of one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified, with what proved it.
    Passed(String),
    /// Verified to fail: what failed, and what to change.
    Failed {
        /// What failed.
        what: String,
        /// The exact thing to change.
        hint: String,
    },
    /// Could not be verified (an earlier condition failed, or the KMS did not answer).
    Unverified(String),
}

impl Verdict {
    fn failed(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Failed {
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// Whether the condition was verified to hold.
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed(_))
    }
}

/// The three conditions of one cloud.
#[derive(Debug, Clone)]
pub struct CloudCheck {
    /// The cloud.
    pub cloud: Cloud,
    /// 1. trusted, 2+3 for Encrypt, 2+3 for Decrypt.
    pub steps: [Verdict; 3],
    /// How soon a revocation stops the engine on this cloud.
    pub revocation: RevocationBounds,
}

/// The conditions' labels, in step order.
pub const LABELS: [&str; 3] = [
    "1. the service identity is trusted",
    "2. a policy allowing Encrypt exists and 3. is assigned",
    "2. a policy allowing Decrypt exists and 3. is assigned",
];

impl fmt::Display for CloudCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.cloud)?;
        for (label, step) in LABELS.iter().zip(&self.steps) {
            match step {
                Verdict::Passed(detail) => writeln!(f, "  ✓ {label} — {detail}")?,
                Verdict::Failed { what, hint } => {
                    writeln!(f, "  ✗ {label} — {what}")?;
                    writeln!(f, "      hint: {hint}")?;
                }
                Verdict::Unverified(why) => writeln!(f, "  · {label} — not verified: {why}")?,
            }
        }
        write!(f, "{}", self.revocation)
    }
}

/// Checks every cloud `config` registers.
pub async fn check_registration(config: &Config) -> Vec<CloudCheck> {
    let mut checks = Vec::new();
    for cloud in Cloud::ALL.into_iter().filter(|c| config.registers(*c)) {
        checks.push(CloudCheck {
            cloud,
            steps: check_cloud(config, cloud).await,
            revocation: RevocationBounds::of(config, cloud),
        });
    }
    checks
}

const EARLIER: &str = "an earlier condition failed";

async fn check_cloud(config: &Config, cloud: Cloud) -> [Verdict; 3] {
    let unverified = || Verdict::Unverified(EARLIER.into());
    let signs_in = SignIn::of(config, cloud);
    for endpoint in &signs_in.endpoints {
        if let Err(error) = reachable(&endpoint.url).await {
            let verdict = Verdict::failed(
                format!(
                    "cannot reach {} at {}: {error}",
                    endpoint.what, endpoint.url
                ),
                format!(
                    "start the KMS it points at (for the lab: `mock-kms`), or fix `{}` in ekm.yaml",
                    endpoint.field
                ),
            );
            return [verdict, unverified(), unverified()];
        }
    }
    // One sign-in and one call: the real clock is the session's.
    let clock: SharedClock = Arc::new(SystemClock::new());
    let kek = match registration::connect(config, cloud, &clock).await {
        Ok(kek) => kek,
        Err(error) => {
            // Azure reads the key while connecting: its refusals arrive here.
            return match error {
                registration::SetupError::Kms { source, .. } => {
                    let first = signs_in.after_call(&source);
                    let second = if first.passed() {
                        key_verdict(&source, "Reading the key", cloud)
                    } else {
                        unverified()
                    };
                    [first, second, unverified()]
                }
                other => [
                    Verdict::failed(other.to_string(), "fix the registration in ekm.yaml"),
                    unverified(),
                    unverified(),
                ],
            };
        }
    };
    // The context the engine binds into every wrap, so key-policy conditions on it decide the
    // check as they decide the engine's own calls.
    let context = EncryptionContext::new().with(WRAP_CONTEXT_PROJECT, config.project_id.as_str());
    let dek = match Dek::generate() {
        Ok(dek) => dek,
        Err(error) => {
            let verdict = Verdict::Unverified(format!("no DEK could be made: {error}"));
            return [verdict, unverified(), unverified()];
        }
    };
    let wrapped = match kek.wrap(&dek, &context).await {
        Ok(wrapped) => wrapped,
        Err(error) => {
            let first = signs_in.after_call(&error);
            let second = if first.passed() {
                key_verdict(&error, "Encrypt", cloud)
            } else {
                unverified()
            };
            return [first, second, unverified()];
        }
    };
    let trusted = Verdict::Passed(signs_in.proof());
    let encrypt = Verdict::Passed(format!("Encrypt with {}", wrapped.key_version));
    match kek
        .unwrap(&wrapped.edek, &wrapped.key_version, &context)
        .await
    {
        Ok(_) => [
            trusted,
            encrypt,
            Verdict::Passed("Decrypt round trip".into()),
        ],
        Err(error) => [trusted, encrypt, key_verdict(&error, "Decrypt", cloud)],
    }
}

/// How a cloud signs in, for proofs and hints.
struct SignIn {
    cloud: Cloud,
    /// The ExternalId / audience the call sends, and the project id the trust must name.
    sent: String,
    project: String,
    /// The trust document and where it lives.
    identity: String,
    endpoints: Vec<Endpoint>,
}

struct Endpoint {
    what: &'static str,
    url: String,
    field: &'static str,
}

impl SignIn {
    fn of(config: &Config, cloud: Cloud) -> Self {
        let project = config.project_id.clone();
        let endpoint = |what, url: String, field| Endpoint { what, url, field };
        match cloud {
            Cloud::Aws => {
                let aws = config.aws.as_ref();
                let region = aws
                    .and_then(|a| ekm_engine::config::kms_arn_region(&a.key_arn))
                    .unwrap_or("us-east-1");
                let custom = aws.and_then(|a| a.endpoint.clone());
                Self {
                    cloud,
                    sent: aws
                        .and_then(|a| a.external_id.clone())
                        .unwrap_or_else(|| project.clone()),
                    project,
                    identity: aws.map(|a| a.role_arn.clone()).unwrap_or_default(),
                    endpoints: vec![
                        endpoint(
                            "AWS STS",
                            custom
                                .clone()
                                .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com")),
                            "aws.endpoint",
                        ),
                        endpoint(
                            "AWS KMS",
                            custom.unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com")),
                            "aws.endpoint",
                        ),
                    ],
                }
            }
            Cloud::Gcp => {
                let gcp = config.gcp.as_ref();
                Self {
                    cloud,
                    sent: gcp
                        .and_then(|g| g.allowed_audience.clone())
                        .unwrap_or_else(|| project.clone()),
                    project,
                    identity: gcp.map(|g| g.sts_audience()).unwrap_or_default(),
                    endpoints: vec![
                        endpoint(
                            "GCP STS",
                            gcp.and_then(|g| g.sts_endpoint.clone())
                                .unwrap_or_else(|| "https://sts.googleapis.com".into()),
                            "gcp.sts_endpoint",
                        ),
                        endpoint(
                            "Cloud KMS",
                            gcp.and_then(|g| g.endpoint.clone())
                                .unwrap_or_else(|| "https://cloudkms.googleapis.com".into()),
                            "gcp.endpoint",
                        ),
                    ],
                }
            }
            _ => {
                let azure = config.azure.as_ref();
                Self {
                    cloud,
                    sent: config
                        .service
                        .azure
                        .as_ref()
                        .map(|s| s.client_id.clone())
                        .unwrap_or_default(),
                    project,
                    identity: azure.map(|a| a.tenant_id.clone()).unwrap_or_default(),
                    endpoints: vec![
                        endpoint(
                            "Entra ID",
                            azure
                                .and_then(|a| a.authority_host.clone())
                                .unwrap_or_else(|| "https://login.microsoftonline.com".into()),
                            "azure.authority_host",
                        ),
                        endpoint(
                            "Key Vault",
                            azure.map(|a| a.vault_uri.clone()).unwrap_or_default(),
                            "azure.vault_uri",
                        ),
                    ],
                }
            }
        }
    }

    /// What a successful sign-in proves.
    fn proof(&self) -> String {
        match self.cloud {
            Cloud::Aws => format!(
                "signed in: AssumeRole of {} with ExternalId {} succeeded",
                self.identity, self.sent
            ),
            Cloud::Gcp => format!(
                "signed in: the STS exchange at {} with audience {} succeeded",
                self.identity, self.sent
            ),
            _ => format!(
                "signed in: Entra issued a token to app {} in tenant {}",
                self.sent, self.identity
            ),
        }
    }

    /// Step 1 after a KMS call failed: passed when the KMS answered an authenticated session.
    fn after_call(&self, error: &KmsError) -> Verdict {
        match error.kind() {
            KmsErrorKind::Authentication => self.refused(error),
            KmsErrorKind::Unavailable | KmsErrorKind::Throttled => Verdict::Unverified(format!(
                "the KMS did not answer ({}); try again",
                first_line(error)
            )),
            KmsErrorKind::Transport => {
                Verdict::Unverified(format!("the call did not complete ({})", first_line(error)))
            }
            _ => Verdict::Passed(format!("{} (the KMS answered the session)", self.proof())),
        }
    }

    /// Step 1 when the sign-in itself was refused: which secret or trust refused, and how.
    fn refused(&self, error: &KmsError) -> Verdict {
        let text = error.to_string();
        let has = |codes: &[&str]| codes.iter().any(|c| text.contains(c));
        let what = format!("sign-in refused: {}", first_line(error));
        let hint = match self.cloud {
            Cloud::Aws if has(&["SignatureDoesNotMatch", "InvalidClientTokenId", "InvalidSignature", "UnrecognizedClient"]) => {
                "the operator's AWS access key was refused: fix service.aws.access_key_id / secret_access_key in ekm.yaml".to_owned()
            }
            Cloud::Aws if self.sent != self.project => format!(
                "the role's trust policy must require sts:ExternalId = {}; the call sent {} (remove aws.external_id or set it to {})",
                self.project, self.sent, self.project
            ),
            Cloud::Aws => format!(
                "the trust policy of {} must allow the operator's principal to sts:AssumeRole with sts:ExternalId = {} (the call sent {}); restore the trust",
                self.identity, self.project, self.sent
            ),
            Cloud::Gcp if self.sent != self.project => format!(
                "the workload identity provider must allow the audience {}; the token carried {} (remove gcp.allowed_audience or set it to {})",
                self.project, self.sent, self.project
            ),
            Cloud::Gcp => format!(
                "the workload identity provider {} must exist, trust the operator's service account and allow the audience {} (the token carried {})",
                self.identity, self.project, self.sent
            ),
            _ if has(&["AADSTS7000229", "AADSTS700016", "unauthorized_client"]) => format!(
                "tenant {} has no service principal for app {}: the customer must create it (POST /servicePrincipals {{\"appId\": \"{}\"}})",
                self.identity, self.sent, self.sent
            ),
            _ if has(&["AADSTS7000215", "invalid_client"]) => {
                "the operator's Azure client secret was refused: fix service.azure.client_secret in ekm.yaml".to_owned()
            }
            _ => format!(
                "the operator's app {} must be able to sign in to tenant {}",
                self.sent, self.identity
            ),
        };
        Verdict::failed(what, hint)
    }
}

/// Steps 2 and 3 from a refused KMS call.
fn key_verdict(error: &KmsError, call: &str, cloud: Cloud) -> Verdict {
    let what = format!("{call} refused: {}", first_line(error));
    let hint = match (error.kind(), cloud) {
        (KmsErrorKind::AccessDenied, Cloud::Aws) => format!(
            "the key policy (or the role's IAM policy) must allow kms:{call} for the role, and be attached to it"
        ),
        (KmsErrorKind::AccessDenied, Cloud::Gcp) => {
            "grant roles/cloudkms.cryptoKeyEncrypterDecrypter on the key to the federated principal".to_owned()
        }
        (KmsErrorKind::AccessDenied, _) => {
            "assign the Key Vault Crypto User role on the key (or vault) to the service principal".to_owned()
        }
        (KmsErrorKind::KeyDisabled, _) => "the key is disabled: enable it".to_owned(),
        (KmsErrorKind::KeyDestroyed, _) => {
            "the key is pending deletion or destroyed: cancel the deletion (a destroyed key cannot come back)".to_owned()
        }
        (KmsErrorKind::KeyNotFound, _) => {
            "the registered key does not exist, is deleted (Azure hides a deleted key; recover it) or is not visible to the service: fix the key in ekm.yaml".to_owned()
        }
        (KmsErrorKind::InvalidCiphertext, _) => {
            "the KMS refused its own wrap: another key answered (an alias repointed mid-check?); run the check again".to_owned()
        }
        _ => return Verdict::Unverified(format!("{what}; try again")),
    };
    Verdict::failed(what, hint)
}

/// The first line of an error's text, at most 300 characters.
fn first_line(error: &dyn std::error::Error) -> String {
    const MAX: usize = 300;
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= MAX {
        line.to_owned()
    } else {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    }
}

/// Opens and closes a TCP connection to the host of `url` (3 s at most).
async fn reachable(url: &str) -> Result<(), String> {
    let (address, _) = host_port(url).ok_or_else(|| format!("`{url}` is not a URL"))?;
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(address.as_str()),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.kind().to_string()),
        Err(_) => Err("no answer within 3 s".into()),
    }
}

/// `host:port` of an http(s) URL (default ports 80 / 443), and whether it is https.
fn host_port(url: &str) -> Option<(String, bool)> {
    let (scheme, rest) = url.split_once("://")?;
    let https = match scheme {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    Some((address, https))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(
            host_port("http://127.0.0.1:4599/v1/token"),
            Some(("127.0.0.1:4599".into(), false))
        );
        assert_eq!(
            host_port("https://kms.us-east-1.amazonaws.com"),
            Some(("kms.us-east-1.amazonaws.com:443".into(), true))
        );
        assert_eq!(
            host_port("https://[::1]/keys"),
            Some(("[::1]:443".into(), true))
        );
        assert_eq!(host_port("ftp://x"), None);
        assert_eq!(host_port("not a url"), None);
    }
}
