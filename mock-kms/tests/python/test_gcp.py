"""Python's google-cloud-kms (REST transport) + google-auth against the mock's GCP front-end.

Environment (set by run.sh): MOCK_HTTP=127.0.0.1:P (GCP KMS, STS, identity provider, control
API). Runs under pytest, or directly with `python test_gcp.py`.

Recipe: google.auth.identity_pool.Credentials.from_info({"type": "external_account",
"audience": WIF provider, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
"token_url": "http://P/v1/token", "credential_source": {"url":
"http://P/_mock/v1/identity/gcp-id-token?audience=proj_demo", "format": {"type": "json",
"subject_token_field_name": "id_token"}}}) with scopes cloud-platform;
KeyManagementServiceClient(credentials=..., transport="rest",
client_options={"api_endpoint": "http://P"}). The key owner uses
google.oauth2.credentials.Credentials("ekm-lab-gcp-customer-admin"). Over REST, api_core picks
the exception class from the HTTP code (400 BadRequest, 403 Forbidden); the canonical status
(INVALID_ARGUMENT, PERMISSION_DENIED) is in the JSON body.
"""

import json
import os
import urllib.request

from google.api_core import exceptions
from google.auth import identity_pool
from google.cloud import kms
from google.oauth2.credentials import Credentials as BearerCredentials

HTTP = os.environ["MOCK_HTTP"]
BASE = f"http://{HTTP}"
KEY = "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key"
WIF_AUDIENCE = (
    "//iam.googleapis.com/projects/123456789012/locations/global/"
    "workloadIdentityPools/ekm-pool/providers/ekm-provider"
)
OWNER_TOKEN = "ekm-lab-gcp-customer-admin"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Cloud KMS checks it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def status_of(error):
    """The canonical status of a REST error (api_core maps the HTTP code to the class)."""
    return error.response.json()["error"]["status"]


def service_credentials():
    return identity_pool.Credentials.from_info(
        {
            "type": "external_account",
            "audience": WIF_AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": f"{BASE}/v1/token",
            "credential_source": {
                "url": f"{BASE}/_mock/v1/identity/gcp-id-token?audience=proj_demo",
                "format": {"type": "json", "subject_token_field_name": "id_token"},
            },
        },
        scopes=SCOPES,
    )


def client(credentials):
    return kms.KeyManagementServiceClient(
        credentials=credentials,
        transport="rest",
        client_options={"api_endpoint": BASE},
    )


def control(action):
    request = urllib.request.Request(
        f"{BASE}/_mock/v1/keys/gcp-demo/{action}", method="POST", data=b""
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_encrypt_decrypt_round_trip_with_aad():
    service = client(service_credentials())
    plaintext, aad = b"a data key", b"project=proj_demo"
    sealed = service.encrypt(
        request={
            "name": KEY,
            "plaintext": plaintext,
            "additional_authenticated_data": aad,
            "plaintext_crc32c": crc32c(plaintext),
            "additional_authenticated_data_crc32c": crc32c(aad),
        }
    )
    assert sealed.name.startswith(f"{KEY}/cryptoKeyVersions/")
    assert sealed.verified_plaintext_crc32c
    assert sealed.verified_additional_authenticated_data_crc32c
    assert sealed.ciphertext_crc32c == crc32c(sealed.ciphertext)
    assert sealed.protection_level == kms.ProtectionLevel.SOFTWARE

    opened = service.decrypt(
        request={
            "name": KEY,
            "ciphertext": sealed.ciphertext,
            "additional_authenticated_data": aad,
            "ciphertext_crc32c": crc32c(sealed.ciphertext),
        }
    )
    assert opened.plaintext == plaintext
    assert opened.plaintext_crc32c == crc32c(plaintext)
    assert opened.used_primary


def test_wrong_aad_is_invalid_argument():
    service = client(service_credentials())
    sealed = service.encrypt(
        request={"name": KEY, "plaintext": b"x", "additional_authenticated_data": b"a"}
    )
    try:
        service.decrypt(
            request={
                "name": KEY,
                "ciphertext": sealed.ciphertext,
                "additional_authenticated_data": b"b",
            }
        )
    except exceptions.BadRequest as error:
        assert status_of(error) == "INVALID_ARGUMENT"
    else:
        raise AssertionError("a wrong AAD decrypted")


def test_owner_reads_the_key_and_revoked_access_is_denied():
    owner = client(BearerCredentials(OWNER_TOKEN))
    key = owner.get_crypto_key(request={"name": KEY})
    assert key.name == KEY
    assert key.primary.state == kms.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
    versions = list(owner.list_crypto_key_versions(request={"parent": KEY}))
    assert versions and all(v.name.startswith(f"{KEY}/cryptoKeyVersions/") for v in versions)

    service = client(service_credentials())
    control("revoke-access")
    try:
        service.encrypt(request={"name": KEY, "plaintext": b"x"})
    except exceptions.Forbidden as error:
        assert status_of(error) == "PERMISSION_DENIED"
    else:
        raise AssertionError("encrypt without the policy succeeded")
    finally:
        control("restore-access")
    service.encrypt(request={"name": KEY, "plaintext": b"x"})


def test_calls_are_logged():
    with urllib.request.urlopen(f"{BASE}/_mock/v1/calls?since=0") as response:
        calls = json.load(response)["calls"]
    operations = {c["operation"] for c in calls if c["provider"] == "gcp"}
    assert {"gcp-id-token", "token", "encrypt", "decrypt", "getCryptoKey"} <= operations


if __name__ == "__main__":
    tests = [(n, f) for n, f in list(globals().items()) if n.startswith("test_")]
    passed = failed = 0
    for name, test in tests:
        try:
            test()
            passed += 1
            print(f"ok {name}")
        except Exception as error:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAILED {name}: {error!r}")
    print(f"{passed} passed, {failed} failed")
    raise SystemExit(1 if failed else 0)
