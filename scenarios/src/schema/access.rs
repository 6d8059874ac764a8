//! The customer's access documents in a scenario: the documents it starts with per cloud
//! (`access:`), other EKM projects that reach the same keys through the same service
//! (`projects:`), and the actions that edit the documents as the customer would — put or remove
//! an AWS policy statement, a GCP IAM binding, an Azure role assignment, delete a service
//! principal, or replace documents (`put-access:`). A document is written inline (YAML in the
//! JSON's shape) or read from a file relative to the scenario (`{file: PATH}`), as the cloud's
//! CLI prints it; the files are read and every document checked when the scenario is loaded
//! ([`crate::validate`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use ekm_vocab::{UnknownWord, Vocabulary, deserialize_word};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

use super::words::OneOrMany;
use crate::schema::Cloud;

/// One customer document: inline, or read from `file` (relative to the scenario file) when
/// the scenario is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file it comes from, as written; `None` when inline.
    pub file: Option<PathBuf>,
    /// The document: as written inline, or the file's JSON once loaded; after loading, the
    /// policy inside an AWS CLI output rather than the output itself.
    pub json: Value,
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(deserializer)?;
        let file = match &json {
            Value::Object(map) if map.len() == 1 => map.get("file").map(|file| match file {
                Value::String(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(de::Error::custom(
                    "`file:` names a JSON file, relative to the scenario",
                )),
            }),
            _ => None,
        }
        .transpose()?;
        Ok(match file {
            Some(file) => Document {
                file: Some(file),
                json: Value::Null,
            },
            None => Document { file: None, json },
        })
    }
}

/// `access:` (the documents a scenario starts with) and `put-access:` (documents replaced at
/// a step): each document given replaces the demo tenant's (a list replaces the whole list),
/// the rest stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDocuments {
    /// The customer's AWS account.
    #[serde(default)]
    pub aws: Option<AwsDocuments>,
    /// The customer's GCP organisation.
    #[serde(default)]
    pub gcp: Option<GcpDocuments>,
    /// The customer's Azure tenant and subscription.
    #[serde(default)]
    pub azure: Option<AzureDocuments>,
}

impl AccessDocuments {
    /// The clouds it has documents for.
    pub fn clouds(&self) -> Vec<Cloud> {
        let given = [
            (Cloud::Aws, self.aws.is_some()),
            (Cloud::Gcp, self.gcp.is_some()),
            (Cloud::Azure, self.azure.is_some()),
        ];
        given
            .into_iter()
            .filter(|(_, g)| *g)
            .map(|(c, _)| c)
            .collect()
    }
}

/// AWS documents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsDocuments {
    /// The trust policy of the role EKM assumes (`aws iam get-role` output, or the policy).
    #[serde(default)]
    pub trust_policy: Option<Document>,
    /// The role's inline policies by name (`aws iam get-role-policy` output, or the policy).
    #[serde(default)]
    pub role_policies: BTreeMap<String, Document>,
    /// Key policies by lab key name (`aws kms get-key-policy` output, or the policy).
    #[serde(default)]
    pub key_policies: BTreeMap<String, Document>,
}

/// GCP documents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpDocuments {
    /// Workload-identity providers (`gcloud iam workload-identity-pools providers describe
    /// --format=json`), replacing the demo's.
    #[serde(default)]
    pub providers: Option<OneOrMany<Document>>,
    /// IAM policies by lab key name (that crypto key) or resource name (`projects/P`, a key
    /// ring): `gcloud kms keys get-iam-policy --format=json` output.
    #[serde(default)]
    pub policies: BTreeMap<String, Document>,
    /// Custom roles (`gcloud iam roles describe --format=json`).
    #[serde(default)]
    pub custom_roles: Option<OneOrMany<Document>>,
}

/// Azure documents; each list replaces the demo's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureDocuments {
    /// Service principals (`az ad sp show`, Graph's JSON).
    #[serde(default)]
    pub service_principals: Option<OneOrMany<Document>>,
    /// Custom role definitions (`az role definition list`).
    #[serde(default)]
    pub role_definitions: Option<OneOrMany<Document>>,
    /// Role assignments (`az role assignment list`).
    #[serde(default)]
    pub role_assignments: Option<OneOrMany<Document>>,
    /// The vault (`az keyvault show`).
    #[serde(default)]
    pub vault: Option<Document>,
}

/// Another EKM project that reaches the lab's keys through the same service (`projects:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectDecl {
    /// Its cloud.
    pub provider: Cloud,
    /// The key it is registered on (lab name); the provider's demo key when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// Its project id: the ExternalId EKM presents for it on AWS, the audience it asks for on
    /// GCP (another customer's project); the lab's own (`proj_demo`) when absent.
    #[serde(default)]
    pub project_id: Option<String>,
    /// GCP: the `sub` of the ID tokens its workload presents (another service account on the
    /// same issuer); EKM's service account when absent.
    #[serde(default)]
    pub subject: Option<String>,
}

/// An edit of the customer's documents, as a step's action.
#[derive(Debug, Clone)]
pub enum AccessEdit {
    /// `put-statement:` — add a statement to an AWS policy, replacing any with its `Sid`.
    PutStatement(PutStatement),
    /// `remove-statement:` — remove the statements with a `Sid` from an AWS policy.
    RemoveStatement(RemoveStatement),
    /// `put-binding:` — grant a role to members in a GCP IAM policy.
    PutBinding(Binding),
    /// `remove-binding:` — take members (or everyone) out of a role's bindings.
    RemoveBinding(Binding),
    /// `put-assignment:` — assign an Azure role at a scope.
    PutAssignment(Assignment),
    /// `remove-assignment:` — remove the assignments of a role at a scope.
    RemoveAssignment(Assignment),
    /// `delete-service-principal:` — delete the tenant's service principal of an application
    /// (EKM's when no `app_id` is given), as Microsoft Graph does.
    DeleteServicePrincipal(DeleteServicePrincipal),
    /// `put-access:` — replace documents, as the scenario's `access:` does at the start.
    PutAccess(AccessDocuments),
}

impl AccessEdit {
    /// The cloud whose documents it edits (`None` for `put-access:`, which may edit several).
    pub fn cloud(&self) -> Option<Cloud> {
        match self {
            AccessEdit::PutStatement(_) | AccessEdit::RemoveStatement(_) => Some(Cloud::Aws),
            AccessEdit::PutBinding(_) | AccessEdit::RemoveBinding(_) => Some(Cloud::Gcp),
            AccessEdit::PutAssignment(_)
            | AccessEdit::RemoveAssignment(_)
            | AccessEdit::DeleteServicePrincipal(_) => Some(Cloud::Azure),
            AccessEdit::PutAccess(_) => None,
        }
    }
}

/// Which AWS policy a statement edit is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyWord {
    /// The trust policy of the role EKM assumes.
    Trust,
    /// A key's key policy (`key:`).
    Key,
    /// An inline policy of the role (`name:`).
    Role,
}

impl Vocabulary for PolicyWord {
    const WHAT: &'static str = "policy";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("trust", PolicyWord::Trust),
        ("key", PolicyWord::Key),
        ("role", PolicyWord::Role),
    ];
}
ekm_vocab::vocabulary!(PolicyWord);

/// `put-statement:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutStatement {
    /// `trust`, `key` or `role`.
    pub policy: PolicyWord,
    /// `key`: the AWS key (lab name); `aws-demo` when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// `role`: the role policy's name (created when missing).
    #[serde(default)]
    pub name: Option<String>,
    /// The statement (inline or `{file}`).
    pub statement: Document,
}

/// `remove-statement:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveStatement {
    /// `trust`, `key` or `role`.
    pub policy: PolicyWord,
    /// `key`: the AWS key (lab name); `aws-demo` when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// `role`: the role policy's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The `Sid` of the statements to remove.
    pub sid: String,
}

/// `put-binding:` / `remove-binding:` — a role and its members on a GCP resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The crypto key (lab name); `gcp-demo` unless `resource` is given.
    #[serde(default)]
    pub key: Option<String>,
    /// A project or key ring resource name instead (`projects/P`).
    #[serde(default)]
    pub resource: Option<String>,
    /// The role (`roles/cloudkms.cryptoKeyEncrypterDecrypter`, `projects/P/roles/NAME`).
    pub role: String,
    /// Members (`principal://…`, `principalSet://…`, `serviceAccount:…`); for a removal,
    /// every member of the role's bindings when absent.
    #[serde(default)]
    pub members: Option<OneOrMany<String>>,
    /// An IAM condition (`{title, expression}`) on a new binding.
    #[serde(default)]
    pub condition: Option<Document>,
}

/// Where an Azure role assignment applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureScope {
    /// The lab's vault.
    Vault,
    /// The vault's resource group.
    ResourceGroup,
    /// The subscription.
    Subscription,
    /// Any resource id (`/subscriptions/…`).
    Id(String),
}

impl AzureScope {
    const WORDS: [(&'static str, AzureScope); 3] = [
        ("vault", AzureScope::Vault),
        ("resource-group", AzureScope::ResourceGroup),
        ("subscription", AzureScope::Subscription),
    ];
}

impl fmt::Display for AzureScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureScope::Id(id) => f.write_str(id),
            word => {
                let (text, _) = Self::WORDS
                    .iter()
                    .find(|(_, w)| w == word)
                    .expect("every named scope has a word");
                f.write_str(text)
            }
        }
    }
}

impl<'de> Deserialize<'de> for AzureScope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_word(deserializer, |text| {
            if text.starts_with('/') {
                return Ok(AzureScope::Id(text.to_owned()));
            }
            Self::WORDS
                .iter()
                .find(|(word, _)| *word == text)
                .map(|(_, scope)| scope.clone())
                .ok_or_else(|| {
                    let mut words: Vec<&str> = Self::WORDS.iter().map(|(w, _)| *w).collect();
                    words.push("/subscriptions/…");
                    UnknownWord::new("scope", text, words)
                })
        })
    }
}

/// `put-assignment:` / `remove-assignment:` — a role assigned to a principal at a scope.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// A built-in role's name (`Key Vault Crypto User`) or a role definition's id.
    pub role: String,
    /// The key (lab name) it applies to; `azure-demo` unless `scope` is given.
    #[serde(default)]
    pub key: Option<String>,
    /// `vault`, `resource-group`, `subscription` or a resource id, instead of a key.
    #[serde(default)]
    pub scope: Option<AzureScope>,
    /// The assignee's object id; EKM's service principal when absent.
    #[serde(default)]
    pub principal: Option<String>,
}

/// `delete-service-principal:` (no arguments: EKM's) or `{app_id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteServicePrincipal {
    /// The application whose service principal goes; EKM's when absent.
    #[serde(default)]
    pub app_id: Option<String>,
}

/// The access edits' action words (`put-statement`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is its word
pub enum AccessWord {
    PutStatement,
    RemoveStatement,
    PutBinding,
    RemoveBinding,
    PutAssignment,
    RemoveAssignment,
    DeleteServicePrincipal,
    PutAccess,
}

impl Vocabulary for AccessWord {
    const WHAT: &'static str = "access action";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("put-statement", AccessWord::PutStatement),
        ("remove-statement", AccessWord::RemoveStatement),
        ("put-binding", AccessWord::PutBinding),
        ("remove-binding", AccessWord::RemoveBinding),
        ("put-assignment", AccessWord::PutAssignment),
        ("remove-assignment", AccessWord::RemoveAssignment),
        (
            "delete-service-principal",
            AccessWord::DeleteServicePrincipal,
        ),
        ("put-access", AccessWord::PutAccess),
    ];
}
ekm_vocab::vocabulary!(AccessWord);

impl AccessWord {
    /// The word of `edit`.
    pub fn of(edit: &AccessEdit) -> Self {
        match edit {
            AccessEdit::PutStatement(_) => AccessWord::PutStatement,
            AccessEdit::RemoveStatement(_) => AccessWord::RemoveStatement,
            AccessEdit::PutBinding(_) => AccessWord::PutBinding,
            AccessEdit::RemoveBinding(_) => AccessWord::RemoveBinding,
            AccessEdit::PutAssignment(_) => AccessWord::PutAssignment,
            AccessEdit::RemoveAssignment(_) => AccessWord::RemoveAssignment,
            AccessEdit::DeleteServicePrincipal(_) => AccessWord::DeleteServicePrincipal,
            AccessEdit::PutAccess(_) => AccessWord::PutAccess,
        }
    }

    /// Reads the edit's arguments from the step map.
    pub(super) fn read_args<'de, A: de::MapAccess<'de>>(
        self,
        map: &mut A,
    ) -> Result<AccessEdit, A::Error> {
        Ok(match self {
            AccessWord::PutStatement => AccessEdit::PutStatement(map.next_value()?),
            AccessWord::RemoveStatement => AccessEdit::RemoveStatement(map.next_value()?),
            AccessWord::PutBinding => AccessEdit::PutBinding(map.next_value()?),
            AccessWord::RemoveBinding => AccessEdit::RemoveBinding(map.next_value()?),
            AccessWord::PutAssignment => AccessEdit::PutAssignment(map.next_value()?),
            AccessWord::RemoveAssignment => AccessEdit::RemoveAssignment(map.next_value()?),
            AccessWord::DeleteServicePrincipal => AccessEdit::DeleteServicePrincipal(
                map.next_value::<Option<DeleteServicePrincipal>>()?
                    .unwrap_or_default(),
            ),
            AccessWord::PutAccess => AccessEdit::PutAccess(map.next_value()?),
        })
    }
}
