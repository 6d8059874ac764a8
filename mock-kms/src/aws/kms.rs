//! AWS KMS operations (JSON 1.1, `x-amz-target: TrentService.<Operation>`).
//!
//! Key ids may be a key id (UUID), a key ARN, `alias/NAME` or an alias ARN. The encryption
//! context is bound as AAD in a canonical form (pairs sorted by key, each string length-prefixed),
//! so any change to it fails decryption as on real KMS. Ciphertext blobs name their key and
//! version, so Decrypt works without a KeyId, and a KeyId naming another key is refused.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{AwsError, AwsFront, Protocol, Session, Signer};
use crate::access;
use crate::error::StateError;
use crate::keys::{BlobHeader, Key, KeySpec, KeyState};
use crate::pipeline::Call;
use crate::state::{Caller, KeyUse, KmsState};
use crate::tenant::AwsTenant;
use ekm_vocab::{CallKind, Cloud, KeyAction};

mod external;
mod key_policy;
mod key_store;

/// Largest plaintext `Encrypt` takes (AWS's limit).
pub const MAX_PLAINTEXT_BYTES: usize = 4096;
/// Largest ciphertext blob `Decrypt` takes (AWS's limit).
pub const MAX_CIPHERTEXT_BYTES: usize = 6144;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The KMS operations this mock answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `Encrypt`.
    Encrypt,
    /// `Decrypt`.
    Decrypt,
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `DescribeKey`.
    DescribeKey,
    /// `ListAliases`.
    ListAliases,
    /// `CreateKey`.
    CreateKey,
    /// `EnableKey`.
    EnableKey,
    /// `DisableKey`.
    DisableKey,
    /// `ScheduleKeyDeletion`.
    ScheduleKeyDeletion,
    /// `RotateKeyOnDemand`.
    RotateKeyOnDemand,
    /// `ListKeyRotations`.
    ListKeyRotations,
    /// `CreateAlias`.
    CreateAlias,
    /// `UpdateAlias`.
    UpdateAlias,
    /// `CreateCustomKeyStore`.
    CreateCustomKeyStore,
    /// `DescribeCustomKeyStores`.
    DescribeCustomKeyStores,
    /// `ConnectCustomKeyStore`.
    ConnectCustomKeyStore,
    /// `DisconnectCustomKeyStore`.
    DisconnectCustomKeyStore,
    /// `UpdateCustomKeyStore`.
    UpdateCustomKeyStore,
    /// `DeleteCustomKeyStore`.
    DeleteCustomKeyStore,
    /// `GetKeyPolicy`.
    GetKeyPolicy,
    /// `PutKeyPolicy`.
    PutKeyPolicy,
}

impl Operation {
    const ALL: [(&'static str, Operation); 21] = [
        ("Encrypt", Operation::Encrypt),
        ("Decrypt", Operation::Decrypt),
        ("GenerateDataKey", Operation::GenerateDataKey),
        ("DescribeKey", Operation::DescribeKey),
        ("ListAliases", Operation::ListAliases),
        ("CreateKey", Operation::CreateKey),
        ("EnableKey", Operation::EnableKey),
        ("DisableKey", Operation::DisableKey),
        ("ScheduleKeyDeletion", Operation::ScheduleKeyDeletion),
        ("RotateKeyOnDemand", Operation::RotateKeyOnDemand),
        ("ListKeyRotations", Operation::ListKeyRotations),
        ("CreateAlias", Operation::CreateAlias),
        ("UpdateAlias", Operation::UpdateAlias),
        ("CreateCustomKeyStore", Operation::CreateCustomKeyStore),
        (
            "DescribeCustomKeyStores",
            Operation::DescribeCustomKeyStores,
        ),
        ("ConnectCustomKeyStore", Operation::ConnectCustomKeyStore),
        (
            "DisconnectCustomKeyStore",
            Operation::DisconnectCustomKeyStore,
        ),
        ("UpdateCustomKeyStore", Operation::UpdateCustomKeyStore),
        ("DeleteCustomKeyStore", Operation::DeleteCustomKeyStore),
        ("GetKeyPolicy", Operation::GetKeyPolicy),
        ("PutKeyPolicy", Operation::PutKeyPolicy),
    ];

    /// Parses an `x-amz-target` value (`TrentService.Encrypt`).
    pub(super) fn from_target(target: &str) -> Result<Self, AwsError> {
        target
            .strip_prefix("TrentService.")
            .and_then(|name| Self::ALL.iter().find(|(n, _)| *n == name))
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                AwsError::bad(
                    "UnknownOperationException",
                    format!("Unknown operation `{target}`"),
                )
            })
    }

    /// What the operation does, for the call log and fault matching.
    pub(super) fn kind(self) -> CallKind {
        match self {
            Operation::Encrypt | Operation::GenerateDataKey => CallKind::Wrap,
            Operation::Decrypt => CallKind::Unwrap,
            Operation::DescribeKey
            | Operation::ListAliases
            | Operation::ListKeyRotations
            | Operation::DescribeCustomKeyStores
            | Operation::GetKeyPolicy => CallKind::Describe,
            Operation::CreateKey
            | Operation::EnableKey
            | Operation::DisableKey
            | Operation::ScheduleKeyDeletion
            | Operation::RotateKeyOnDemand
            | Operation::CreateAlias
            | Operation::UpdateAlias
            | Operation::CreateCustomKeyStore
            | Operation::ConnectCustomKeyStore
            | Operation::DisconnectCustomKeyStore
            | Operation::UpdateCustomKeyStore
            | Operation::DeleteCustomKeyStore
            | Operation::PutKeyPolicy => CallKind::Manage,
        }
    }

    pub(super) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("Unknown", |(name, _)| name)
    }
}

pub(super) fn json_response(body: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn error_response(error: &AwsError) -> Response {
    let body = json!({"__type": error.code, "message": error.message});
    let mut response = (error.status, json_response(&body)).into_response();
    if let Ok(value) = HeaderValue::from_str(error.code) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

/// The KMS request fields CloudTrail shows in `requestParameters` (in the request's spelling):
/// never `Plaintext`, `CiphertextBlob` or a key store's credential.
const LOGGED_FIELDS: [&str; 16] = [
    "KeyId",
    "EncryptionContext",
    "EncryptionAlgorithm",
    "KeySpec",
    "NumberOfBytes",
    "KeyUsage",
    "Origin",
    "Description",
    "PolicyName",
    "Policy",
    "BypassPolicyLockoutSafetyCheck",
    "AliasName",
    "TargetKeyId",
    "PendingWindowInDays",
    "CustomKeyStoreId",
    "XksKeyId",
];

/// Records the request's [`LOGGED_FIELDS`] for its audit record (nothing when the body is not
/// a JSON object: the operation refuses it).
pub(super) fn log_parameters(call: &Call, body: &[u8]) {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    for name in LOGGED_FIELDS {
        if let Some(value) = fields.get(name) {
            call.parameter(name, value.clone());
        }
    }
}

/// Runs one KMS operation for `principal`.
pub(super) async fn dispatch(
    front: &AwsFront,
    signer: &Signer,
    op: Operation,
    body: &[u8],
    call: &Call,
) -> Result<Value, AwsError> {
    let caller = signer.principal.kms_caller(op.name())?;
    let kms = Kms {
        front,
        caller,
        session: signer.session.as_deref(),
        call,
    };
    match op {
        Operation::Encrypt => kms.encrypt(parse(body)?).await,
        Operation::Decrypt => kms.decrypt(parse(body)?).await,
        Operation::GenerateDataKey => kms.generate_data_key(parse(body)?).await,
        Operation::DescribeKey => kms.describe_key(parse(body)?).await,
        Operation::ListAliases => kms.list_aliases(parse(body)?).await,
        Operation::CreateKey => kms.create_key(parse(body)?).await,
        Operation::EnableKey => kms.lifecycle(parse(body)?, KeyAction::Enable).await,
        Operation::DisableKey => kms.lifecycle(parse(body)?, KeyAction::Disable).await,
        Operation::RotateKeyOnDemand => kms.lifecycle(parse(body)?, KeyAction::Rotate).await,
        Operation::ScheduleKeyDeletion => kms.schedule_deletion(parse(body)?).await,
        Operation::ListKeyRotations => kms.list_rotations(parse(body)?).await,
        Operation::CreateAlias => kms.put_alias(parse(body)?, false).await,
        Operation::UpdateAlias => kms.put_alias(parse(body)?, true).await,
        Operation::CreateCustomKeyStore => kms.create_key_store(parse(body)?).await,
        Operation::DescribeCustomKeyStores => kms.describe_key_stores(parse(body)?).await,
        Operation::ConnectCustomKeyStore => kms.connect_key_store(parse(body)?).await,
        Operation::DisconnectCustomKeyStore => kms.disconnect_key_store(parse(body)?).await,
        Operation::UpdateCustomKeyStore => kms.update_key_store(parse(body)?).await,
        Operation::DeleteCustomKeyStore => kms.delete_key_store(parse(body)?).await,
        Operation::GetKeyPolicy => kms.get_key_policy(parse(body)?).await,
        Operation::PutKeyPolicy => kms.put_key_policy(parse(body)?).await,
    }
}

/// Parses a JSON body (an empty body is `{}`): bad JSON is `SerializationException`, the wrong
/// shape (missing or mistyped fields) `ValidationException`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AwsError::bad("ValidationException", e.to_string()),
        _ => AwsError::bad("SerializationException", e.to_string()),
    })
}

fn decode_b64(field: &str, value: &str) -> Result<Vec<u8>, AwsError> {
    B64.decode(value).map_err(|_| {
        AwsError::bad(
            "SerializationException",
            format!("{field} is not valid base64"),
        )
    })
}

/// The encryption context as AAD: pairs in key order, each string prefixed by its length.
pub(crate) fn context_aad(context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = Vec::new();
    for (name, value) in context {
        for part in [name, value] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

fn epoch_seconds(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// The UUID at the end of a key ARN.
fn key_uuid(key: &Key) -> &str {
    key.id.rsplit('/').next().unwrap_or(&key.id)
}

/// Resolves a KeyId (UUID, key ARN, `alias/NAME`, alias ARN) to an AWS key's lab name.
pub(crate) fn resolve(
    state: &KmsState,
    tenant: &AwsTenant,
    key_id: &str,
) -> Result<String, StateError> {
    let not_found = || StateError::KeyNotFound(key_id.to_owned());
    if key_id.is_empty() {
        return Err(StateError::InvalidRequest("KeyId must not be empty".into()));
    }
    let alias = key_id
        .strip_prefix("alias/")
        .or_else(|| key_id.strip_prefix(&tenant.alias_arn("")));
    let name = match alias {
        Some(alias) => state.alias_target(alias).map(str::to_owned),
        None if key_id.starts_with("arn:") => {
            state.key_by_id(Cloud::Aws, key_id).map(|k| k.name.clone())
        }
        None => state
            .key_by_id(Cloud::Aws, &tenant.key_arn(key_id))
            .map(|k| k.name.clone()),
    };
    name.filter(|name| {
        state
            .keys
            .get(name)
            .is_some_and(|k| k.provider == Cloud::Aws)
    })
    .ok_or_else(not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptRequest {
    key_id: String,
    plaintext: String,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptRequest {
    ciphertext_blob: String,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyRequest {
    key_id: String,
    key_spec: Option<String>,
    number_of_bytes: Option<u64>,
    #[serde(default)]
    encryption_context: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyIdRequest {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesRequest {
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyRequest {
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    key_usage: Option<String>,
    #[serde(default)]
    description: String,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    xks_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleDeletionRequest {
    key_id: String,
    pending_window_in_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasRequest {
    alias_name: String,
    target_key_id: String,
}

fn check_algorithm(algorithm: Option<&str>) -> Result<(), AwsError> {
    match algorithm {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(AwsError::bad(
            "InvalidKeyUsageException",
            format!("{other} is not a valid encryption algorithm for a SYMMETRIC_DEFAULT key"),
        )),
    }
}

/// One request's view of KMS: the front-end and the authenticated caller.
struct Kms<'a> {
    front: &'a AwsFront,
    caller: Caller,
    /// For a role session: the session.
    session: Option<&'a Session>,
    call: &'a Call,
}

impl Kms<'_> {
    fn tenant(&self) -> &AwsTenant {
        &self.front.lab.tenant().aws
    }

    /// Resolves `key_id`, then [`Kms::enter`]s it.
    async fn key(&self, key_id: &str) -> Result<String, AwsError> {
        let name = self.front.lab.read(|s| resolve(s, self.tenant(), key_id))?;
        self.enter(name).await
    }

    /// Names key `name` in the call log and admits the call past the fault rules.
    async fn enter(&self, name: String) -> Result<String, AwsError> {
        self.call.key(&name);
        self.admit_faults().await?;
        Ok(name)
    }

    /// Fault admission, answered in KMS's dialect.
    async fn admit_faults(&self) -> Result<(), AwsError> {
        self.call
            .admit_faults()
            .await
            .map_err(|failure| AwsError::fault(Protocol::Kms, failure))
    }

    /// What the customer's documents decide for a session of the role doing `action` on key
    /// `name` with `context` (the owner is not subject to them here): a denial answers
    /// `AccessDeniedException` with AWS's message and leaves the decision's trace in the log.
    fn check_documents(
        &self,
        name: &str,
        action: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        if self.caller != Caller::Service {
            return Ok(());
        }
        let tenant = self.front.lab.tenant();
        let fallback;
        let caller = match self.session {
            Some(session) => &session.caller,
            None => {
                fallback = access::role_caller(tenant, None);
                &fallback
            }
        };
        let decided = self.front.lab.read(|s| {
            let key = s.key(name)?;
            let call = access::KmsCall {
                name,
                key_arn: &key.id,
                action,
                caller,
                encryption_context: context,
                token_issued: self.session.map(|session| session.life.issued),
            };
            Ok::<_, StateError>(s.aws_access.kms_call(tenant, &call))
        })?;
        decided.map_err(|decision| {
            self.call.denied_by(access::short_trace(&decision));
            AwsError::bad(
                "AccessDeniedException",
                decision.message.unwrap_or_default(),
            )
        })
    }

    /// Checks `action` on `name` for the caller (the owner only, for anything but encrypt and
    /// decrypt) and returns a value computed from the key.
    fn with_key<R>(
        &self,
        name: &str,
        usage: KeyUse,
        action: &str,
        f: impl FnOnce(&Key, OffsetDateTime) -> Result<R, StateError>,
    ) -> Result<R, AwsError> {
        let lab = &self.front.lab;
        let now = lab.now();
        Ok(lab.read(|s| f(s.authorize(name, self.caller, usage, action)?, now))?)
    }

    fn seal(
        &self,
        name: &str,
        usage: KeyUse,
        action: &str,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<(String, String), AwsError> {
        let aad = context_aad(context);
        self.with_key(name, usage, action, |key, now| {
            let sealed = key.encrypt_blob(now, &aad, plaintext)?;
            Ok((B64.encode(sealed.ciphertext), key.id.clone()))
        })
    }

    async fn encrypt(&self, req: EncryptRequest) -> Result<Value, AwsError> {
        check_algorithm(req.encryption_algorithm.as_deref())?;
        let plaintext = zeroize::Zeroizing::new(decode_b64("Plaintext", &req.plaintext)?);
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(AwsError::bad(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
                     Member must have length between 1 and {MAX_PLAINTEXT_BYTES}"
                ),
            ));
        }
        let name = self.key(&req.key_id).await?;
        self.check_documents(&name, "kms:Encrypt", &req.encryption_context)?;
        let (blob, arn) = self
            .seal_any(
                &name,
                KeyUse::Encrypt,
                "Encrypt",
                &req.encryption_context,
                &plaintext,
            )
            .await?;
        Ok(
            json!({"CiphertextBlob": blob, "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        )
    }

    async fn decrypt(&self, req: DecryptRequest) -> Result<Value, AwsError> {
        check_algorithm(req.encryption_algorithm.as_deref())?;
        let blob = decode_b64("CiphertextBlob", &req.ciphertext_blob)?;
        if blob.is_empty() || blob.len() > MAX_CIPHERTEXT_BYTES {
            return Err(AwsError::bad(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy \
                     constraint: Member must have length between 1 and {MAX_CIPHERTEXT_BYTES}"
                ),
            ));
        }
        let (header, _) = BlobHeader::parse(&blob)?;
        let name = match &req.key_id {
            Some(key_id) => self.key(key_id).await?,
            None => {
                let known = self.front.lab.read(|s| {
                    s.keys
                        .get(&header.key)
                        .is_some_and(|k| k.provider == Cloud::Aws)
                });
                if !known {
                    return Err(StateError::InvalidCiphertext(
                        "the ciphertext was not made by a key of this account".into(),
                    )
                    .into());
                }
                self.enter(header.key.clone()).await?
            }
        };
        self.check_documents(&name, "kms:Decrypt", &req.encryption_context)?;
        if let Some(binding) = self.external(&name) {
            if header.key != name {
                let ciphertext_key = header.key;
                return Err(StateError::IncorrectKey {
                    requested: name,
                    ciphertext_key,
                }
                .into());
            }
            return self
                .open_external(&name, &binding, &blob, &req.encryption_context)
                .await;
        }
        let aad = context_aad(&req.encryption_context);
        self.with_key(&name, KeyUse::Decrypt, "kms:Decrypt", |key, now| {
            let (plaintext, _) = key.decrypt_blob(now, &blob, &aad)?;
            Ok(json!({
                "KeyId": key.id,
                "Plaintext": B64.encode(plaintext.as_slice()),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        })
    }

    async fn generate_data_key(&self, req: GenerateDataKeyRequest) -> Result<Value, AwsError> {
        let len = match (req.key_spec.as_deref(), req.number_of_bytes) {
            (Some("AES_256"), None) | (None, None) => 32,
            (Some("AES_128"), None) => 16,
            (None, Some(n @ 1..=1024)) => usize::try_from(n).unwrap_or(32),
            _ => {
                return Err(AwsError::bad(
                    "ValidationException",
                    "give either KeySpec (AES_256 or AES_128) or NumberOfBytes (1-1024)",
                ));
            }
        };
        let name = self.key(&req.key_id).await?;
        let mut plaintext = zeroize::Zeroizing::new(vec![0u8; len]);
        aws_lc_rs::rand::fill(plaintext.as_mut_slice())
            .map_err(|_| StateError::Internal("the random number generator failed".into()))?;
        let (blob, arn) = self
            .seal_any(
                &name,
                KeyUse::Manage,
                "GenerateDataKey",
                &req.encryption_context,
                &plaintext,
            )
            .await?;
        Ok(
            json!({"CiphertextBlob": blob, "Plaintext": B64.encode(plaintext.as_slice()), "KeyId": arn}),
        )
    }

    async fn describe_key(&self, req: KeyIdRequest) -> Result<Value, AwsError> {
        let name = self.key(&req.key_id).await?;
        let tenant = self.tenant();
        let mut metadata =
            self.with_key(&name, KeyUse::Manage, "kms:DescribeKey", |key, now| {
                Ok(key_metadata(tenant, key, now))
            })?;
        self.external_metadata(&name, &mut metadata);
        Ok(json!({"KeyMetadata": metadata}))
    }

    fn require_owner(&self, action: &str) -> Result<(), AwsError> {
        if self.caller == Caller::Owner {
            Ok(())
        } else {
            Err(AwsError::bad(
                "AccessDeniedException",
                format!("The caller is not authorized to perform: {action}"),
            ))
        }
    }

    async fn list_aliases(&self, req: ListAliasesRequest) -> Result<Value, AwsError> {
        let lab = &self.front.lab;
        let only = match &req.key_id {
            Some(key_id) => Some(self.key(key_id).await?),
            None => {
                self.admit_faults().await?;
                None
            }
        };
        self.require_owner("kms:ListAliases")?;
        let tenant = self.tenant();
        let aliases: Vec<Value> = lab.read(|s| {
            s.aliases
                .iter()
                .filter(|(_, target)| only.as_ref().is_none_or(|only| only == *target))
                .filter_map(|(alias, target)| {
                    let key = s.keys.get(target)?;
                    Some(json!({
                        "AliasName": format!("alias/{alias}"),
                        "AliasArn": tenant.alias_arn(alias),
                        "TargetKeyId": key_uuid(key),
                    }))
                })
                .collect()
        });
        Ok(json!({"Aliases": aliases, "Truncated": false}))
    }

    async fn create_key(&self, req: CreateKeyRequest) -> Result<Value, AwsError> {
        self.admit_faults().await?;
        self.require_owner("kms:CreateKey")?;
        for spec in [&req.key_spec, &req.customer_master_key_spec]
            .into_iter()
            .flatten()
        {
            if spec != "SYMMETRIC_DEFAULT" {
                return Err(AwsError::bad(
                    "ValidationException",
                    format!("this lab makes SYMMETRIC_DEFAULT keys only, not {spec}"),
                ));
            }
        }
        if req
            .key_usage
            .as_deref()
            .is_some_and(|u| u != "ENCRYPT_DECRYPT")
        {
            return Err(AwsError::bad(
                "ValidationException",
                "this lab makes ENCRYPT_DECRYPT keys only",
            ));
        }
        if req.description.len() > 8192 {
            return Err(AwsError::bad(
                "ValidationException",
                "Description is too long",
            ));
        }
        let name = match req.origin.as_deref() {
            None | Some("AWS_KMS") => {
                let name = format!("aws-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
                self.front
                    .lab
                    .create_key(&name, Cloud::Aws, KeySpec::SymmetricDefault)?;
                self.call.key(&name);
                name
            }
            Some("EXTERNAL_KEY_STORE") => self.create_external_key(&req).await?,
            Some(other) => {
                return Err(AwsError::bad(
                    "UnsupportedOperationException",
                    format!(
                        "this lab makes keys of Origin AWS_KMS or EXTERNAL_KEY_STORE, not {other}"
                    ),
                ));
            }
        };
        let tenant = self.tenant();
        let mut metadata = self.with_key(&name, KeyUse::Manage, "kms:CreateKey", |key, now| {
            Ok(key_metadata(tenant, key, now))
        })?;
        self.external_metadata(&name, &mut metadata);
        Ok(json!({"KeyMetadata": metadata}))
    }

    async fn lifecycle(&self, req: KeyIdRequest, action: KeyAction) -> Result<Value, AwsError> {
        let name = self.key(&req.key_id).await?;
        let aws_action = match action {
            KeyAction::Enable => "kms:EnableKey",
            KeyAction::Disable => "kms:DisableKey",
            _ => "kms:RotateKeyOnDemand",
        };
        let arn = self.with_key(&name, KeyUse::Manage, aws_action, |key, _| {
            Ok(key.id.clone())
        })?;
        self.front.lab.apply(&name, action)?;
        Ok(match action {
            KeyAction::Rotate => json!({"KeyId": arn}),
            _ => json!({}),
        })
    }

    async fn schedule_deletion(&self, req: ScheduleDeletionRequest) -> Result<Value, AwsError> {
        let days = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(AwsError::bad(
                "ValidationException",
                "PendingWindowInDays must be between 7 and 30",
            ));
        }
        let name = self.key(&req.key_id).await?;
        let lab = &self.front.lab;
        let now = lab.now();
        let caller = self.caller;
        let (arn, deletion_date) = lab.write(|s| {
            s.authorize(&name, caller, KeyUse::Manage, "kms:ScheduleKeyDeletion")?;
            let key = s.key_mut(&name)?;
            let current = key.state_at(now);
            match current {
                KeyState::Enabled | KeyState::Disabled => {
                    let window = std::time::Duration::from_secs(days.unsigned_abs() * 86_400);
                    let deletion_date = crate::keys::deletion_date(&name, now, window)?;
                    key.state = KeyState::PendingDeletion { deletion_date };
                    Ok((key.id.clone(), deletion_date))
                }
                _ => Err(StateError::InvalidState {
                    key: name.clone(),
                    state: current.as_str(),
                    reason: "only an enabled or disabled key can be scheduled for deletion".into(),
                }),
            }
        })?;
        Ok(json!({
            "KeyId": arn,
            "DeletionDate": epoch_seconds(deletion_date),
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }))
    }

    async fn list_rotations(&self, req: KeyIdRequest) -> Result<Value, AwsError> {
        let name = self.key(&req.key_id).await?;
        self.with_key(&name, KeyUse::Manage, "kms:ListKeyRotations", |key, _| {
            let rotations: Vec<Value> = key
                .versions
                .iter()
                .skip(1)
                .map(|v| {
                    json!({
                        "KeyId": key.id,
                        "RotationDate": epoch_seconds(v.created),
                        "RotationType": "ON_DEMAND",
                    })
                })
                .collect();
            Ok(json!({"Rotations": rotations, "Truncated": false}))
        })
    }

    /// `CreateAlias` (`must_exist` false) and `UpdateAlias` (true).
    async fn put_alias(&self, req: AliasRequest, must_exist: bool) -> Result<Value, AwsError> {
        let alias = req.alias_name.strip_prefix("alias/").ok_or_else(|| {
            AwsError::bad("ValidationException", "AliasName must begin with alias/")
        })?;
        if alias.starts_with("aws/") {
            return Err(AwsError::bad(
                "NotAuthorizedException",
                "alias/aws/ is reserved for AWS managed keys",
            ));
        }
        if req.target_key_id.starts_with("alias/") || req.target_key_id.contains(":alias/") {
            return Err(AwsError::bad(
                "ValidationException",
                "TargetKeyId must be a key id or key ARN, not an alias",
            ));
        }
        let target = self.key(&req.target_key_id).await?;
        self.with_key(&target, KeyUse::Manage, "kms:CreateAlias", |_, _| Ok(()))?;
        let lab = &self.front.lab;
        let exists = lab.read(|s| s.alias_target(alias).is_some());
        match (exists, must_exist) {
            (true, false) => Err(AwsError::bad(
                "AlreadyExistsException",
                format!("An alias with the name alias/{alias} already exists"),
            )),
            (false, true) => Err(AwsError::bad(
                "NotFoundException",
                format!("Alias alias/{alias} is not found."),
            )),
            _ => {
                lab.set_alias(alias, &target)?;
                Ok(json!({}))
            }
        }
    }
}

fn key_metadata(tenant: &AwsTenant, key: &Key, now: OffsetDateTime) -> Value {
    let state = key.state_at(now);
    let mut metadata = json!({
        "AWSAccountId": tenant.account_id,
        "KeyId": key_uuid(key),
        "Arn": key.id,
        "CreationDate": epoch_seconds(key.created),
        "Enabled": state == KeyState::Enabled,
        "Description": "",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": match state {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion { .. } => "PendingDeletion",
            KeyState::Destroyed => "Unavailable",
        },
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let (KeyState::PendingDeletion { deletion_date }, Some(map)) =
        (state, metadata.as_object_mut())
    {
        map.insert("DeletionDate".into(), json!(epoch_seconds(deletion_date)));
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_aad_is_canonical_and_unambiguous() {
        let ab: BTreeMap<String, String> = [("a".into(), "bc".into())].into();
        let abc: BTreeMap<String, String> = [("ab".into(), "c".into())].into();
        assert_ne!(context_aad(&ab), context_aad(&abc));
        assert!(context_aad(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn targets_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            Operation::from_target("TrentService.Encrypt"),
            Ok(Operation::Encrypt)
        );
        let error = Operation::from_target("TrentService.Nope").unwrap_err();
        assert_eq!(error.code, "UnknownOperationException");
        assert!(Operation::from_target("Encrypt").is_err());
        assert_eq!(Operation::UpdateAlias.name(), "UpdateAlias");
    }
}
