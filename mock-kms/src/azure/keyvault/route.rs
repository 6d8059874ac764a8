//! The Key Vault keys API's request paths: which key and operation a method and path name
//! (`/keys/{name}[/{version}]/{operation}`, operations case-insensitive), and the RBAC data
//! action each operation needs.

use axum::http::{Method, StatusCode};
use ekm_vocab::CallKind;

use crate::azure::KvError;

pub(super) const READ_ACTION: &str = "Microsoft.KeyVault/vaults/keys/read";
const ENCRYPT_ACTION: &str = "Microsoft.KeyVault/vaults/keys/encrypt/action";
const DECRYPT_ACTION: &str = "Microsoft.KeyVault/vaults/keys/decrypt/action";
const WRAP_ACTION: &str = "Microsoft.KeyVault/vaults/keys/wrap/action";
const UNWRAP_ACTION: &str = "Microsoft.KeyVault/vaults/keys/unwrap/action";
pub(super) const CREATE_ACTION: &str = "Microsoft.KeyVault/vaults/keys/create/action";
pub(super) const ROTATE_ACTION: &str = "Microsoft.KeyVault/vaults/keys/rotate/action";
pub(super) const WRITE_ACTION: &str = "Microsoft.KeyVault/vaults/keys/write";

/// A cryptographic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CryptoOp {
    Encrypt,
    Decrypt,
    WrapKey,
    UnwrapKey,
}

impl CryptoOp {
    fn parse(segment: &str) -> Option<Self> {
        match segment.to_ascii_lowercase().as_str() {
            "encrypt" => Some(Self::Encrypt),
            "decrypt" => Some(Self::Decrypt),
            "wrapkey" => Some(Self::WrapKey),
            "unwrapkey" => Some(Self::UnwrapKey),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
            Self::WrapKey => "wrapkey",
            Self::UnwrapKey => "unwrapkey",
        }
    }

    pub(super) fn encrypts(self) -> bool {
        matches!(self, Self::Encrypt | Self::WrapKey)
    }

    pub(super) fn action(self) -> &'static str {
        match self {
            Self::Encrypt => ENCRYPT_ACTION,
            Self::Decrypt => DECRYPT_ACTION,
            Self::WrapKey => WRAP_ACTION,
            Self::UnwrapKey => UNWRAP_ACTION,
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    Get { version: String },
    Crypto { op: CryptoOp, version: String },
    Create,
    Rotate,
    Update { version: String },
}

impl Op {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Op::Get { .. } => "get",
            Op::Crypto { op, .. } => op.name(),
            Op::Create => "create",
            Op::Rotate => "rotate",
            Op::Update { .. } => "update",
        }
    }

    pub(super) fn kind(&self) -> CallKind {
        match self {
            Op::Crypto { op, .. } if op.encrypts() => CallKind::Wrap,
            Op::Crypto { .. } => CallKind::Unwrap,
            Op::Get { .. } => CallKind::Describe,
            Op::Create | Op::Rotate | Op::Update { .. } => CallKind::Manage,
        }
    }
}

/// A parsed request path: the vault key name and the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Route {
    pub(super) name: String,
    pub(super) op: Op,
}

pub(super) fn parse_route(method: &Method, path: &str) -> Result<Route, KvError> {
    let rest = path.strip_prefix("/keys").unwrap_or(path);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let route = |name: &str, op: Op| {
        Ok(Route {
            name: name.to_owned(),
            op,
        })
    };
    let not_allowed = || {
        Err(KvError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The method {method} is not allowed on {path}."),
        ))
    };
    match segments.as_slice() {
        [""] => not_allowed(),
        [name] | [name, ""] => match *method {
            Method::GET => route(
                name,
                Op::Get {
                    version: String::new(),
                },
            ),
            Method::PATCH => route(
                name,
                Op::Update {
                    version: String::new(),
                },
            ),
            _ => not_allowed(),
        },
        [name, second] => match *method {
            Method::GET => route(
                name,
                Op::Get {
                    version: (*second).to_owned(),
                },
            ),
            Method::PATCH => route(
                name,
                Op::Update {
                    version: (*second).to_owned(),
                },
            ),
            Method::POST => match second.to_ascii_lowercase().as_str() {
                "create" => route(name, Op::Create),
                "rotate" => route(name, Op::Rotate),
                _ => match CryptoOp::parse(second) {
                    Some(op) => route(
                        name,
                        Op::Crypto {
                            op,
                            version: String::new(),
                        },
                    ),
                    None => Err(KvError::bad_parameter(format!(
                        "Unknown key operation '{second}'."
                    ))),
                },
            },
            _ => not_allowed(),
        },
        [name, version, operation] => match (method, CryptoOp::parse(operation)) {
            (&Method::POST, Some(op)) => route(
                name,
                Op::Crypto {
                    op,
                    version: (*version).to_owned(),
                },
            ),
            (&Method::POST, None) => Err(KvError::bad_parameter(format!(
                "Unknown key operation '{operation}'."
            ))),
            _ => not_allowed(),
        },
        _ => Err(KvError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The requested path {path} was not found."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_like_key_vault() {
        let get = |path: &str| parse_route(&Method::GET, path).map(|r| (r.name, r.op));
        let post = |path: &str| parse_route(&Method::POST, path).map(|r| (r.name, r.op));
        let primary = || String::new();
        assert_eq!(
            get("/keys/k"),
            Ok(("k".into(), Op::Get { version: primary() }))
        );
        assert_eq!(
            get("/keys/k/"),
            Ok(("k".into(), Op::Get { version: primary() }))
        );
        assert_eq!(
            get("/keys/k/v1"),
            Ok((
                "k".into(),
                Op::Get {
                    version: "v1".into()
                }
            ))
        );
        for path in ["/keys/k//encrypt", "/keys/k/encrypt"] {
            assert_eq!(
                post(path),
                Ok((
                    "k".into(),
                    Op::Crypto {
                        op: CryptoOp::Encrypt,
                        version: primary()
                    }
                ))
            );
        }
        assert_eq!(
            post("/keys/k/v1/wrapKey"),
            Ok((
                "k".into(),
                Op::Crypto {
                    op: CryptoOp::WrapKey,
                    version: "v1".into()
                }
            ))
        );
        assert_eq!(post("/keys/k/rotate"), Ok(("k".into(), Op::Rotate)));
        assert!(post("/keys/k/v1/sign").is_err());
        assert!(post("/keys/k/a/b/c").is_err());
        assert!(get("/keys").is_err());
        assert!(parse_route(&Method::DELETE, "/keys/k").is_err());
    }
}
