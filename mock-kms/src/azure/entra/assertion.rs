//! Client assertions: a JWT signed `RS256` or `PS256` by the key of a certificate registered for
//! the application, named by its thumbprint, with the claims `entra`'s documentation lists (under
//! "Client authentication"); each refusal says which rule failed.

use base64::Engine as _;
use serde::Deserialize;
use time::OffsetDateTime;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::azure::crypto;
use crate::tenant::AzureTenant;

/// Tolerated clock skew for assertion `nbf` / `exp`.
const ASSERTION_SKEW: time::Duration = time::Duration::minutes(5);

#[derive(Deserialize)]
struct AssertionHeader {
    alg: String,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: Option<i64>,
}

/// Decodes a thumbprint written in base64url or standard base64, padded or not.
fn decode_thumbprint(value: &str) -> Option<Vec<u8>> {
    crypto::BASE64URL.decode(value).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD_INDIFFERENT
            .decode(value)
            .ok()
    })
}

/// Checks a client assertion JWT for `app_id` (rules in the module documentation).
pub(super) fn verify_assertion(
    jwt: &str,
    app_id: &str,
    azure: &AzureTenant,
    now: OffsetDateTime,
) -> Result<(), String> {
    let malformed = || "The client assertion is not a well-formed JWT.".to_owned();
    let mut parts = jwt.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let decode = |part: &str| crypto::BASE64URL.decode(part).map_err(|_| malformed());
    let header: AssertionHeader =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| malformed())?;
    let claims: AssertionClaims =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|_| malformed())?;
    let signature = decode(signature_b64)?;

    let algorithm = match header.alg.as_str() {
        "RS256" => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err(format!(
                "The client assertion algorithm '{other}' is not supported."
            ));
        }
    };
    let sha1 = header.x5t.as_deref().and_then(decode_thumbprint);
    let sha256 = header.x5t_s256.as_deref().and_then(decode_thumbprint);
    let not_registered = || {
        format!(
            "The certificate with identifier used to sign the client assertion is not \
             registered on application '{app_id}'."
        )
    };
    let certificate = azure
        .client_certificates
        .iter()
        .filter(|c| c.app_id == app_id)
        .filter_map(|c| CertificateDer::from_pem_slice(c.certificate_pem.as_bytes()).ok())
        .find(|der| {
            let matches = |digest: &'static aws_lc_rs::digest::Algorithm,
                           wanted: &Option<Vec<u8>>| {
                wanted
                    .as_deref()
                    .is_some_and(|w| aws_lc_rs::digest::digest(digest, der).as_ref() == w)
            };
            matches(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &sha1)
                || matches(&aws_lc_rs::digest::SHA256, &sha256)
        })
        .ok_or_else(not_registered)?;
    let end_entity = webpki::EndEntityCert::try_from(&certificate).map_err(|_| not_registered())?;
    let signed = &jwt[..header_b64.len() + 1 + claims_b64.len()];
    end_entity
        .verify_signature(algorithm, signed.as_bytes(), &signature)
        .map_err(|_| "Client assertion failed signature validation.".to_owned())?;

    if claims.iss != app_id || claims.sub != app_id {
        return Err(format!(
            "The client assertion's iss and sub must be the application id '{app_id}'."
        ));
    }
    let token_path = format!("/{}/oauth2/v2.0/token", azure.tenant_id);
    if !(claims.aud.starts_with("https://") && claims.aud.ends_with(&token_path)) {
        return Err(format!(
            "The audience '{}' is invalid: it must be this tenant's token endpoint.",
            claims.aud
        ));
    }
    let at = |seconds: i64| OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| malformed());
    if at(claims.exp)? + ASSERTION_SKEW <= now {
        return Err("The client assertion is expired.".to_owned());
    }
    if let Some(nbf) = claims.nbf
        && at(nbf)? > now + ASSERTION_SKEW
    {
        return Err("The client assertion is not yet valid.".to_owned());
    }
    Ok(())
}
