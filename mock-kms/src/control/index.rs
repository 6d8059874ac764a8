//! The control API's index, served at `GET /_mock/v1`: every route under `/_mock/v1/` — the
//! keys, aliases, faults, calls and clock of [`super::router`], the lab identity provider of the
//! GCP front-end and the external key store's controls — with its methods and what it does, so a
//! person with `curl` (or the console, deciding whether an endpoint is a lab mock) can find their
//! way without the source. A test walks the table and checks every route it names is served.

use axum::Json;
use serde::Serialize;
use serde_json::{Value, json};

/// The name the index answers under `service`: how a client tells the lab's mock from a real
/// cloud endpoint.
pub const SERVICE: &str = "ekm-mock-kms";

/// One route of the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RouteDoc {
    /// The HTTP method.
    pub method: &'static str,
    /// The path, with `{placeholders}`.
    pub path: &'static str,
    /// What it does, in one line.
    pub does: &'static str,
}

const fn route(method: &'static str, path: &'static str, does: &'static str) -> RouteDoc {
    RouteDoc { method, path, does }
}

/// Every control-API route, in the order a newcomer meets them.
pub const ROUTES: &[RouteDoc] = &[
    route("GET", "/_mock/v1", "this index: every control-API route"),
    route(
        "GET",
        "/_mock/v1/keys",
        "every key: provider, id, state, versions",
    ),
    route(
        "POST",
        "/_mock/v1/keys",
        "create a key: {\"name\", \"provider\", \"spec\"?}",
    ),
    route("GET", "/_mock/v1/keys/{name}", "one key"),
    route(
        "POST",
        "/_mock/v1/keys/{name}/{action}",
        "a key action as its owner: rotate, disable, enable, schedule-deletion, destroy, \
         revoke-access, restore-access, revoke-trust, restore-trust, \
         revoke-sessions (AWS: the AWSRevokeOlderSessions role policy; GCP: issued tokens end; \
         Azure: refused, Entra tokens cannot be revoked)",
    ),
    route(
        "POST",
        "/_mock/v1/keys/{name}/versions/{version}/{action}",
        "a version action as the key's owner: disable, enable (GCP, Azure), destroy, restore \
         (GCP); AWS keys have no per-version state",
    ),
    route(
        "GET",
        "/_mock/v1/access/{cloud}",
        "the customer's access documents of aws, gcp or azure, as --state keeps them",
    ),
    route(
        "PUT",
        "/_mock/v1/access/{cloud}",
        "replace them (same shape); refused naming field and JSON path",
    ),
    route(
        "GET",
        "/_mock/v1/access/{cloud}/explain",
        "?key=REF[&external_id|provider|audience|app_id|project=…]: EKM's sign-in, encrypt and \
         decrypt on that key, each with the deciding document part and its trace, and the lint",
    ),
    route("GET", "/_mock/v1/aliases", "every AWS alias and its key"),
    route(
        "PUT",
        "/_mock/v1/aliases/{alias}",
        "repoint an AWS alias: {\"target\": NAME}",
    ),
    route("GET", "/_mock/v1/faults", "the fault rules in force"),
    route(
        "PUT",
        "/_mock/v1/faults",
        "replace the fault rules (their windows start now)",
    ),
    route("DELETE", "/_mock/v1/faults", "clear every fault rule"),
    route(
        "GET",
        "/_mock/v1/calls",
        "the call log after ?since=SEQ, oldest first",
    ),
    route(
        "GET",
        "/_mock/v1/audit/{cloud}",
        "aws, gcp or azure's audit records (CloudTrail, Cloud Audit Logs, Key Vault AuditEvent) \
         of the calls after ?since=SEQ, as JSON lines; the next SEQ in x-mock-next",
    ),
    route(
        "GET",
        "/_mock/v1/clock",
        "the lab time: {\"now\", \"offset_seconds\"}",
    ),
    route(
        "POST",
        "/_mock/v1/clock/advance",
        "move the lab clock: {\"seconds\"}",
    ),
    route(
        "POST",
        "/_mock/v1/identity/gcp-id-token",
        "mint the service's OIDC ID token for GCP STS: {\"audience\"}",
    ),
    route(
        "GET",
        "/_mock/v1/identity/gcp-id-token",
        "the same, as ?audience=… (for URL-sourced external_account credentials)",
    ),
    route(
        "GET",
        "/_mock/v1/identity/jwks",
        "the identity provider's signing key (JWK set)",
    ),
    route(
        "GET",
        "/_mock/v1/xks",
        "the external key store: proxy, keys, bindings, fleet, faults",
    ),
    route(
        "PUT",
        "/_mock/v1/xks/endpoint",
        "the XKS proxy's URI path and credentials",
    ),
    route(
        "GET",
        "/_mock/v1/xks/keys",
        "the external key manager's keys",
    ),
    route(
        "POST",
        "/_mock/v1/xks/keys",
        "create an external key: {\"id\"}",
    ),
    route(
        "POST",
        "/_mock/v1/xks/keys/{id}/{action}",
        "act on an external key in the customer's HSM: disable, enable, delete",
    ),
    route(
        "POST",
        "/_mock/v1/xks/bindings",
        "back a cloud key by an external key",
    ),
    route(
        "PUT",
        "/_mock/v1/xks/fleet",
        "the HSM fleet's health: ACTIVE, DEGRADED, UNAVAILABLE",
    ),
    route(
        "PUT",
        "/_mock/v1/xks/faults",
        "faults on the hop to the XKS proxy",
    ),
    route("DELETE", "/_mock/v1/xks/faults", "clear the hop's faults"),
    route(
        "PUT",
        "/_mock/v1/xks/timeout",
        "how long the clouds wait for the proxy",
    ),
];

/// `GET /_mock/v1`: the service, its version and [`ROUTES`].
pub(super) async fn index() -> Json<Value> {
    Json(json!({
        "service": SERVICE,
        "version": env!("CARGO_PKG_VERSION"),
        "routes": ROUTES,
    }))
}
