//! The Key Vault keys API under `/keys` (any `api-version`).
//!
//! | request | who | answer |
//! | --- | --- | --- |
//! | `GET /keys/{name}[/[{version}]]` | owner, service with access | KeyBundle with the public JWK |
//! | `POST /keys/{name}/[{version}]/encrypt\|decrypt\|wrapkey\|unwrapkey` (also `/keys/{name}/encrypt`) | owner, service with access | `{"kid","value"}` |
//! | `POST /keys/{name}/create` `{"kty","key_size","crv"}` | owner | KeyBundle (an existing key gets a new version) |
//! | `POST /keys/{name}/rotate` | owner | KeyBundle of the new version |
//! | `PATCH /keys/{name}[/{version}]` `{"attributes":{"enabled"}}` | owner | KeyBundle of the version |
//!
//! `PATCH` enables or disables one version (no version: the primary one), as
//! `update_key_properties(name, version, enabled=…)` does; a version's `attributes.enabled` is
//! false when it or the whole key (the control API's `disable`) is disabled, and every
//! cryptographic operation under a disabled version answers `403 Forbidden` (inner
//! `KeyDisabled`), so disabling an old version shreds only what it wrapped. Key Vault has no
//! per-version deletion.
//!
//! Each request is authenticated first (no or a bad token: 401 with the bearer challenge), then
//! its key is resolved by vault name (404 `KeyNotFound`), then the fault rules are asked, then
//! the caller is authorized and the key's state checked. An empty version means the primary one
//! (for decryption too: clients send the versioned `kid` they were given). Operation names in
//! the path are case-insensitive (`wrapKey` = `wrapkey`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::crypto::{Algorithm, BASE64URL, CryptoError, ParsedKey};
use super::entra::{Audience, Expired, IssuedToken};
use super::{AzureState, KvError, VAULT_RESOURCE};
use crate::error::StateError;
use crate::keygen;
use crate::keys::{Key, KeySpec, KeyState, KeyVersion};
use crate::pipeline::Call;
use crate::state::{Caller, KeyUse, KmsState};
use ekm_vocab::{CallKind, Cloud, KeyAction, VersionAction};

mod route;

use route::{
    CREATE_ACTION, CryptoOp, Op, READ_ACTION, ROTATE_ACTION, Route, WRITE_ACTION, parse_route,
};

fn challenge(state: &AzureState) -> String {
    format!(
        r#"Bearer authorization="{}/{}", resource="{VAULT_RESOURCE}""#,
        state.lab.vault_url(),
        state.lab.tenant().azure.tenant_id
    )
}

fn unauthorized(state: &AzureState, message: &str) -> KvError {
    let mut error = KvError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message);
    error.challenge = Some(challenge(state));
    error
}

/// Azure's admission: checks the bearer token — 401 with the challenge unless it is one we
/// issued for Key Vault and unexpired on the lab and the wall clock — and names its
/// application in the call log. A trust removal (the service principal deleted) does not end
/// a token: Key Vault only checks the token, and the role assignments decide the call.
fn admit(state: &AzureState, call: &Call, headers: &HeaderMap) -> Result<IssuedToken, KvError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            state,
            "AKV10000: Request is missing a Bearer or PoP token.",
        ));
    };
    let value = value.to_str().unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(unauthorized(
                state,
                "AKV10001: Unsupported authorization scheme: use Bearer.",
            ));
        }
    };
    let issued = match state.tokens.lookup(token, state.lab.now()) {
        Some(Ok(issued)) if issued.audience == Audience::Vault => issued,
        Some(Err(Expired)) => {
            return Err(unauthorized(
                state,
                "[TokenExpired] Error validating token: 'S2S12086'.",
            ));
        }
        _ => {
            return Err(unauthorized(
                state,
                "AKV10022: Invalid token: it is unknown or not for Key Vault.",
            ));
        }
    };
    call.caller(&issued.app_id);
    if let Some(oid) = &issued.object_id {
        call.principal(oid, None);
    }
    Ok(issued)
}

/// Renders a lab error in Key Vault's words; `operation` names the call.
fn lab_error(state: &AzureState, error: StateError, name: &str, operation: &str) -> KvError {
    let text = error.to_string();
    match error {
        StateError::KeyNotFound(_)
        | StateError::KeyPendingDeletion { .. }
        | StateError::KeyDestroyed(_) => not_found(name),
        StateError::VersionNotFound { version, .. } => not_found(&format!("{name}/{version}")),
        StateError::KeyDisabled(_) | StateError::VersionNotEnabled { .. } => KvError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("Operation {operation} is not allowed on a disabled key."),
        )
        .with_inner("KeyDisabled"),
        StateError::AccessDenied { action, .. } => KvError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Caller is not authorized to perform action on resource.\r\nIf role \
                 assignments, deny assignments or role definitions were changed recently, please \
                 observe propagation time.\r\nAction: '{action}'\r\nResource: 'keys/{name}'\r\n\
                 Assignment: (not found)\r\nVault: {}\r\n",
                state.lab.tenant().azure.vault_name
            ),
        )
        .with_inner("ForbiddenByRbac"),
        StateError::AlreadyExists(_) => KvError::new(StatusCode::CONFLICT, "Conflict", text),
        StateError::InvalidState { .. } | StateError::VersionState { .. } => {
            KvError::new(StatusCode::CONFLICT, "Conflict", text)
        }
        StateError::InvalidCiphertext(_)
        | StateError::InvalidRequest(_)
        | StateError::UnsupportedOperation { .. }
        | StateError::IncorrectKey { .. } => KvError::bad_parameter(text),
        StateError::Internal(_) => KvError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            text,
        ),
    }
}

fn crypto_error(error: CryptoError) -> KvError {
    match error {
        CryptoError::NotPermitted(operation) => KvError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("Operation {operation} is not permitted on this key."),
        )
        .with_inner("KeyOperationForbidden"),
        CryptoError::BadInput(message) => KvError::bad_parameter(message),
        CryptoError::Material(_) => KvError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            error.to_string(),
        ),
    }
}

fn not_found(name: &str) -> KvError {
    KvError::new(
        StatusCode::NOT_FOUND,
        "KeyNotFound",
        format!(
            "A key with (name/id) {name} was not found in this key vault. If you recently \
             deleted this key you may be able to recover it using the correct recovery command."
        ),
    )
}

/// Parses a JSON body; every failure is 400 `BadParameter` (413 when over the size limit).
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, KvError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            KvError::new(
                status,
                "RequestEntityTooLarge",
                "The request body is too large.",
            )
        } else {
            KvError::bad_parameter("The request body could not be read.")
        }
    })?;
    if bytes.is_empty() {
        return Err(KvError::bad_parameter("The request body is empty."));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| KvError::bad_parameter(format!("The request body is not valid: {e}.")))
}

#[derive(Debug, Deserialize)]
struct OperationBody {
    alg: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    kty: Option<String>,
    key_size: Option<u32>,
    crv: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Attributes {
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default)]
    attributes: Attributes,
}

/// The key spec a create request asks for.
fn requested_spec(body: &CreateBody) -> Result<KeySpec, KvError> {
    let kty = body
        .kty
        .as_deref()
        .ok_or_else(|| KvError::bad_parameter("The parameter 'kty' is required."))?;
    match kty {
        "RSA" | "RSA-HSM" => match body.key_size {
            None | Some(2048) => Ok(KeySpec::Rsa2048),
            Some(3072) => Ok(KeySpec::Rsa3072),
            Some(4096) => Ok(KeySpec::Rsa4096),
            Some(other) => Err(KvError::bad_parameter(format!(
                "Invalid key size {other}: use 2048, 3072 or 4096."
            ))),
        },
        "EC" | "EC-HSM" => match body.crv.as_deref() {
            None | Some("P-256") => Ok(KeySpec::EcP256),
            Some(other) => Err(KvError::bad_parameter(format!(
                "The curve '{other}' is not offered by this lab: use P-256."
            ))),
        },
        other => Err(KvError::bad_parameter(format!(
            "The key type '{other}' is not offered by this lab: use RSA or EC."
        ))),
    }
}

/// Fails with `KeyNotFound` for a key Key Vault would not show (soft-deleted or purged).
fn ensure_visible(key: &Key, now: time::OffsetDateTime, name: &str) -> Result<(), KvError> {
    match key.state_at(now) {
        KeyState::Enabled | KeyState::Disabled => Ok(()),
        KeyState::PendingDeletion { .. } | KeyState::Destroyed => Err(not_found(name)),
    }
}

/// The version named `version` (empty: the primary one).
fn pick_version<'k>(key: &'k Key, version: &str, name: &str) -> Result<&'k KeyVersion, KvError> {
    if version.is_empty() {
        Ok(key.primary())
    } else {
        key.version(version)
            .ok_or_else(|| not_found(&format!("{name}/{version}")))
    }
}

/// Everything a request needs once it is authenticated.
struct Request<'a> {
    state: &'a Arc<AzureState>,
    call: &'a Call,
    token: &'a IssuedToken,
    name: &'a str,
}

impl Request<'_> {
    /// Runs `work` (which makes a new RSA key: `create`, `rotate`) on the blocking pool, not on
    /// the thread serving requests.
    async fn generating(
        &self,
        work: impl FnOnce(&Request<'_>) -> Result<Value, KvError> + Send + 'static,
    ) -> Result<Value, KvError> {
        let (state, token, name) = (self.state.clone(), self.token.clone(), self.name.to_owned());
        let call = self.call.clone();
        keygen::off_runtime(move || {
            work(&Request {
                state: &state,
                call: &call,
                token: &token,
                name: &name,
            })
        })
        .await
        .unwrap_or_else(|e| Err(self.lab_error(e, "create")))
    }

    fn kid(&self, key: &Key, version: &KeyVersion) -> String {
        format!("{}/{}", self.state.lab.display_id(key), version.id)
    }

    fn bundle(&self, key: &Key, version: &KeyVersion) -> Result<Value, KvError> {
        let parsed = self.state.keys.get(version).map_err(crypto_error)?;
        let now = self.state.lab.now();
        let created = version.created.unix_timestamp();
        Ok(json!({
            "key": parsed.jwk(&self.kid(key, version)),
            "attributes": {
                "enabled": key.version_state_at(version, now) == KeyState::Enabled,
                "created": created,
                "updated": created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
                "exportable": false,
            },
            "tags": {},
        }))
    }

    fn lab_error(&self, error: StateError, operation: &str) -> KvError {
        lab_error(self.state, error, self.name, operation)
    }

    /// Whether the customer's documents let the service perform data action `action` on key
    /// `key` (the owner is not subject to them here): a denial answers 403 `Forbidden` with Key
    /// Vault's message and inner code and leaves the decision's trace in the call log.
    fn check_documents(&self, s: &KmsState, key: &Key, action: &str) -> Result<(), KvError> {
        let Some(oid) = &self.token.object_id else {
            return Ok(());
        };
        s.azure_access
            .data_action(oid, action, &key.id)
            .map_err(|(decision, inner)| {
                self.call.denied_by(crate::access::short_trace(&decision));
                let message = decision.message.unwrap_or_default();
                KvError::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner(inner)
            })
    }

    /// The bundle of `version` of lab key `lab_name`, after `action`'s authorization.
    fn read_bundle(
        &self,
        lab_name: &str,
        usage: KeyUse,
        action: &str,
        version: &str,
    ) -> Result<Value, KvError> {
        let lab = &self.state.lab;
        let now = lab.now();
        lab.read(|s| {
            let key = s.key(lab_name).map_err(|e| self.lab_error(e, "get"))?;
            ensure_visible(key, now, self.name)?;
            s.authorize(lab_name, self.token.caller, usage, action)
                .map_err(|e| self.lab_error(e, "get"))?;
            self.check_documents(s, key, action)?;
            self.bundle(key, pick_version(key, version, self.name)?)
        })
    }

    fn get(&self, lab_name: &str, version: &str) -> Result<Value, KvError> {
        // The service reads keys under its "Key Vault Crypto User" role: the same access as
        // encrypting with them.
        self.read_bundle(lab_name, KeyUse::Encrypt, READ_ACTION, version)
    }

    fn crypto(
        &self,
        lab_name: &str,
        op: CryptoOp,
        version: &str,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Value, KvError> {
        let body: OperationBody = json_body(body)?;
        let alg = body
            .alg
            .ok_or_else(|| KvError::bad_parameter("The parameter 'alg' is required."))?;
        let alg = Algorithm::parse(&alg).ok_or_else(|| {
            KvError::bad_parameter(format!(
                "Invalid algorithm '{alg}': use RSA-OAEP-256, RSA-OAEP or RSA1_5."
            ))
        })?;
        let value = body
            .value
            .ok_or_else(|| KvError::bad_parameter("The parameter 'value' is required."))?;
        let input = BASE64URL
            .decode(value.trim())
            .map_err(|_| KvError::bad_parameter("The parameter 'value' is not valid base64url."))?;

        let lab = &self.state.lab;
        let now = lab.now();
        let usage = if op.encrypts() {
            KeyUse::Encrypt
        } else {
            KeyUse::Decrypt
        };
        let (kid, parsed): (String, ParsedKey) = lab.read(|s| {
            let key = s.key(lab_name).map_err(|e| self.lab_error(e, op.name()))?;
            ensure_visible(key, now, self.name)?;
            s.authorize(lab_name, self.token.caller, usage, op.action())
                .map_err(|e| self.lab_error(e, op.name()))?;
            self.check_documents(s, key, op.action())?;
            let version = pick_version(key, version, self.name)?;
            key.ensure_version_usable(version, now)
                .map_err(|e| self.lab_error(e, op.name()))?;
            let parsed = self.state.keys.get(version).map_err(crypto_error)?;
            Ok::<_, KvError>((self.kid(key, version), parsed))
        })?;
        let output = if op.encrypts() {
            parsed.encrypt(op.name(), alg, &input)
        } else {
            parsed.decrypt(op.name(), alg, &input)
        }
        .map_err(crypto_error)?;
        Ok(json!({ "kid": kid, "value": BASE64URL.encode(output) }))
    }

    fn create(
        &self,
        lab_name: Option<&str>,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Value, KvError> {
        let body: CreateBody = json_body(body)?;
        let spec = requested_spec(&body)?;
        let lab = &self.state.lab;
        let Some(lab_name) = lab_name else {
            if self.token.caller != Caller::Owner {
                return Err(self.lab_error(
                    StateError::AccessDenied {
                        key: self.name.to_owned(),
                        action: CREATE_ACTION.to_owned(),
                    },
                    "create",
                ));
            }
            let info = lab
                .create_key(self.name, Cloud::Azure, spec)
                .map_err(|e| self.lab_error(e, "create"))?;
            return self.read_bundle(&info.name, KeyUse::Manage, CREATE_ACTION, "");
        };
        // Key Vault answers a create of an existing key with a new version of it.
        lab.read(|s| {
            let key = s.key(lab_name).map_err(|e| self.lab_error(e, "create"))?;
            ensure_visible(key, lab.now(), self.name)?;
            s.authorize(lab_name, self.token.caller, KeyUse::Manage, CREATE_ACTION)
                .map_err(|e| self.lab_error(e, "create"))?;
            if key.spec == spec {
                Ok(())
            } else {
                Err(KvError::bad_parameter(format!(
                    "The key '{}' is a {} key: its type cannot change.",
                    self.name,
                    key.spec.as_str()
                )))
            }
        })?;
        self.apply(lab_name, KeyAction::Rotate, CREATE_ACTION, "")
    }

    /// Applies a lifecycle action as the owner and answers the bundle of `version`.
    fn apply(
        &self,
        lab_name: &str,
        action: KeyAction,
        rbac_action: &str,
        version: &str,
    ) -> Result<Value, KvError> {
        let lab = &self.state.lab;
        lab.read(|s| {
            let key = s.key(lab_name).map_err(|e| self.lab_error(e, "update"))?;
            ensure_visible(key, lab.now(), self.name)?;
            s.authorize(lab_name, self.token.caller, KeyUse::Manage, rbac_action)
                .map_err(|e| self.lab_error(e, "update"))?;
            pick_version(key, version, self.name).map(|_| ())
        })?;
        lab.apply(lab_name, action)
            .map_err(|e| self.lab_error(e, "update"))?;
        self.read_bundle(lab_name, KeyUse::Manage, rbac_action, version)
    }

    fn update(
        &self,
        lab_name: &str,
        version: &str,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Value, KvError> {
        let body: UpdateBody = json_body(body)?;
        let action = match body.attributes.enabled {
            Some(true) => VersionAction::Enable,
            Some(false) => VersionAction::Disable,
            None => return self.read_bundle(lab_name, KeyUse::Manage, WRITE_ACTION, version),
        };
        let lab = &self.state.lab;
        let id = lab.read(|s| {
            let key = s.key(lab_name).map_err(|e| self.lab_error(e, "update"))?;
            ensure_visible(key, lab.now(), self.name)?;
            s.authorize(lab_name, self.token.caller, KeyUse::Manage, WRITE_ACTION)
                .map_err(|e| self.lab_error(e, "update"))?;
            pick_version(key, version, self.name).map(|v| v.id.clone())
        })?;
        lab.apply_version(lab_name, &id, action)
            .map_err(|e| self.lab_error(e, "update"))?;
        self.read_bundle(lab_name, KeyUse::Manage, WRITE_ACTION, &id)
    }
}

/// Every `/keys` request.
pub(super) async fn handle(
    State(state): State<Arc<AzureState>>,
    Extension(call): Extension<Call>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let route = parse_route(&method, uri.path());
    call.name(
        route.as_ref().map_or("request", |r| r.op.name()),
        route.as_ref().map_or(CallKind::Other, |r| r.op.kind()),
    );
    let result = match admit(&state, &call, &headers) {
        Ok(token) => match route {
            Ok(route) => run(&state, &call, &token, route, body).await,
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Resolves the key (naming it in the call log), admits the call past the fault rules and
/// performs `route`.
async fn run(
    state: &Arc<AzureState>,
    call: &Call,
    token: &IssuedToken,
    route: Route,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, KvError> {
    let lab = &state.lab;
    let lab_name = lab.read(|s| {
        s.key_by_id(Cloud::Azure, &route.name)
            .map(|k| k.name.clone())
    });
    if lab_name.is_none() && route.op != Op::Create {
        return Err(not_found(&route.name));
    }
    // A create of a new key is about the vault name it asks for, which becomes its lab name.
    call.key(lab_name.as_deref().unwrap_or(&route.name));
    call.admit_faults().await.map_err(KvError::from_failure)?;
    let request = Request {
        state,
        call,
        token,
        name: &route.name,
    };
    match (&route.op, lab_name.as_deref()) {
        (Op::Create, existing) => {
            let existing = existing.map(str::to_owned);
            request
                .generating(move |r| r.create(existing.as_deref(), body))
                .await
        }
        (_, None) => Err(not_found(&route.name)),
        (Op::Get { version }, Some(lab_name)) => request.get(lab_name, version),
        (Op::Crypto { op, version }, Some(lab_name)) => {
            request.crypto(lab_name, *op, version, body)
        }
        (Op::Rotate, Some(lab_name)) => {
            let lab_name = lab_name.to_owned();
            request
                .generating(move |r| r.apply(&lab_name, KeyAction::Rotate, ROTATE_ACTION, ""))
                .await
        }
        (Op::Update { version }, Some(lab_name)) => request.update(lab_name, version, body),
    }
}
