//! Entra ID sign-in for EKM's multi-tenant app: the client-credentials grant succeeds only while
//! the customer's tenant holds a service principal for the app (created by the Microsoft Graph
//! `POST /v1.0/servicePrincipals {"appId"}` call the seeds name, removed by `DELETE`).
//!
//! Errors: an app the directory knows but the tenant has no service principal for is **401
//! `invalid_client` AADSTS7000229** ("…is missing service principal in the tenant…"; Microsoft's
//! troubleshooting docs); an app id nobody registered is **400 `unauthorized_client`
//! AADSTS700016** (Entra error-code reference).

use serde_json::Value;

use crate::decision::{Decision, Tracer, Verdict};
use crate::document::{At, DocumentError, with_field};

/// A service principal in the customer's tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// Its object id (what role assignments name as `principalId`).
    pub object_id: String,
    /// The application (client) id it stands for.
    pub app_id: String,
}

impl ServicePrincipal {
    /// Reads a service principal as Graph returns it (`{"id", "appId", …}`).
    pub fn from_value(value: &Value) -> Result<ServicePrincipal, DocumentError> {
        let root = At::root(value);
        let read = |field: &str| {
            with_field(root, field, |f| f.string().map(str::to_owned))?
                .ok_or_else(|| root.error(format!("a service principal needs `{field}`")))
        };
        Ok(ServicePrincipal {
            object_id: read("id")?,
            app_id: read("appId")?,
        })
    }
}

/// Entra's answer to a client-credentials sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignIn {
    /// Allowed or denied, with the trace and the `error_description` prefix.
    pub decision: Decision,
    /// On a denial: the HTTP status, the OAuth error and the AADSTS code.
    pub error: Option<(u16, &'static str, u32)>,
    /// On success, the object id the token's `oid` carries.
    pub object_id: Option<String>,
}

/// Decides a sign-in of `app_id` to `tenant`, whose service principals are `principals`;
/// `registered` says whether the app exists in its home directory at all.
pub fn sign_in(
    app_id: &str,
    tenant: &str,
    principals: &[ServicePrincipal],
    registered: bool,
) -> SignIn {
    let mut tracer = Tracer::default();
    let doc = format!("tenant {tenant}");
    if let Some(sp) = principals
        .iter()
        .find(|sp| sp.app_id.eq_ignore_ascii_case(app_id))
    {
        let step = tracer.note(
            &doc,
            &format!("servicePrincipal {}", sp.object_id),
            format!("stands for app {app_id}"),
        );
        return SignIn {
            decision: tracer.allow(step),
            error: None,
            object_id: Some(sp.object_id.clone()),
        };
    }
    let (error, message) = if registered {
        tracer.note(&doc, "servicePrincipals", format!("none for app {app_id}"));
        (
            (401, "invalid_client", 7_000_229),
            format!(
                "AADSTS7000229: The client application {app_id} is missing service principal in the tenant {tenant}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"
            ),
        )
    } else {
        tracer.note(
            &doc,
            "applications",
            format!("no application {app_id} is registered"),
        );
        (
            (400, "unauthorized_client", 700_016),
            format!(
                "AADSTS700016: Application with identifier '{app_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    };
    SignIn {
        decision: tracer.deny(Verdict::ImplicitDeny, None, message),
        error: Some(error),
        object_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_service_principal_lets_the_app_in() {
        let sp = ServicePrincipal::from_value(
            &json!({"id": "oid-1", "appId": "app-1", "displayName": "EKM"}),
        )
        .unwrap();
        let ok = sign_in("app-1", "t", std::slice::from_ref(&sp), true);
        assert_eq!(ok.object_id.as_deref(), Some("oid-1"));
        let missing = sign_in("app-1", "t", &[], true);
        assert_eq!(missing.error, Some((401, "invalid_client", 7_000_229)));
        assert!(missing.decision.message.unwrap().starts_with("AADSTS7000229: The client application app-1 is missing service principal in the tenant t."));
        let unknown = sign_in("app-2", "t", &[sp], false);
        assert_eq!(unknown.error, Some((400, "unauthorized_client", 700_016)));
    }

    #[test]
    fn a_service_principal_without_app_id_is_refused() {
        let err = ServicePrincipal::from_value(&json!({"id": "x"})).unwrap_err();
        assert!(err.reason.contains("appId"), "{err}");
    }
}
