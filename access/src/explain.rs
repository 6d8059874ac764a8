//! What the customer's documents decide for EKM's three conditions on one key — the sign-in
//! (trust), Encrypt and Decrypt (the limited policy and its assignment) — each with its whole
//! evaluation trace, and the least-privilege lint of the documents that take part. The mock
//! answers it at `GET /_mock/v1/access/{cloud}/explain`; `ekm check --explain` prints it beside
//! what the real calls did.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{Decision, Finding, Verdict};

/// How EKM signs in, as its registration sends it. An absent field means what the lab's own
/// registration sends (the tenant's project id, provider and app).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInAs {
    /// AWS: the `ExternalId` sent with `AssumeRole` (the registration's `external_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// GCP: the workload-identity provider STS is asked for (the registration's STS audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// GCP: the `aud` claim of the ID token EKM presents (the registration's allowed audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Azure: the app id EKM signs in as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The project id EKM binds into each wrap's context (`{"ekm:project": …}`), which key
    /// policy conditions on `kms:EncryptionContext:ekm:project` see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl SignInAs {
    /// The fields that are set, as `(name, value)` query pairs (the names the mock's explain
    /// route reads).
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("external_id", &self.external_id),
            ("provider", &self.provider),
            ("audience", &self.audience),
            ("app_id", &self.app_id),
            ("project", &self.project),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// The three conditions' decisions and the lint of the documents behind them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The key's lab name.
    pub key: String,
    /// 1. the service identity is trusted: `AssumeRole`, the STS exchange or the Entra sign-in.
    pub sign_in: Decision,
    /// 2+3 for Encrypt.
    pub encrypt: Decision,
    /// 2+3 for Decrypt.
    pub decrypt: Decision,
    /// The lint's findings on the trust, the key's policies and their assignments.
    pub findings: Vec<Finding>,
}

impl Explanation {
    /// The decisions in the order of `ekm check`'s steps.
    pub fn decisions(&self) -> [&Decision; 3] {
        [&self.sign_in, &self.encrypt, &self.decrypt]
    }
}

impl Decision {
    /// One line for `ekm check --explain`: the verdict and the part that decided it, or for an
    /// implicit denial that nothing granted it.
    pub fn summary(&self) -> String {
        let mut line = match self.verdict {
            Verdict::Allow => "allowed".to_owned(),
            Verdict::ImplicitDeny => "denied (nothing grants it)".to_owned(),
            Verdict::ExplicitDeny => "denied explicitly".to_owned(),
        };
        if let Some(step) = &self.decided_by {
            let _ = write!(line, " by {} {}: {}", step.document, step.part, step.note);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Step;

    fn step(note: &str) -> Step {
        Step {
            document: "key policy of aws-demo".into(),
            part: "Statement[1] (Sid AllowEkm)".into(),
            note: note.into(),
        }
    }

    #[test]
    fn a_summary_names_the_deciding_part() {
        let allowed = Decision {
            verdict: Verdict::Allow,
            decided_by: Some(step("allows")),
            trace: vec![step("allows")],
            message: None,
        };
        assert_eq!(
            allowed.summary(),
            "allowed by key policy of aws-demo Statement[1] (Sid AllowEkm): allows"
        );
        let nothing = Decision {
            verdict: Verdict::ImplicitDeny,
            decided_by: None,
            trace: Vec::new(),
            message: Some("no policy allows it".into()),
        };
        assert_eq!(nothing.summary(), "denied (nothing grants it)");
    }

    #[test]
    fn an_explanation_travels_as_json() {
        let decision = Decision {
            verdict: Verdict::ExplicitDeny,
            decided_by: Some(step("denies")),
            trace: vec![step("denies")],
            message: Some("explicit deny".into()),
        };
        let explanation = Explanation {
            key: "aws-demo".into(),
            sign_in: decision.clone(),
            encrypt: decision.clone(),
            decrypt: decision,
            findings: Vec::new(),
        };
        let json = serde_json::to_string(&explanation).unwrap();
        let back: Explanation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, explanation);
        assert_eq!(back.decisions()[2].verdict, Verdict::ExplicitDeny);
    }
}
