"""Python's azure-keyvault-keys + azure-identity against the mock's Azure front-end.

Environment (set by run.sh): MOCK_HTTPS=127.0.0.1:Q (the https listener), MOCK_CA_CERT=path of
the CA certificate, MOCK_HTTP=127.0.0.1:P (control API). Runs under pytest, or directly with
`python test_azure.py`.

Recipe: ClientSecretCredential(tenant, app, secret, authority="https://127.0.0.1:Q",
connection_verify=CA, disable_instance_discovery=True) -- without the last one MSAL asks
login.microsoftonline.com to validate the authority; KeyClient / CryptographyClient with
verify_challenge_resource=False and connection_verify=CA.
"""

import json
import os
import urllib.request
import uuid

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
)

TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
SERVICE_APP = "11111111-2222-4333-8444-555555555555"
SERVICE_SECRET = "ekm-lab-azure-secret"
ADMIN_APP = "99999999-8888-4777-8666-555555555555"
ADMIN_SECRET = "ekm-lab-customer-admin"
KEY = "ekm-key"

HTTPS = os.environ["MOCK_HTTPS"]
CA = os.environ["MOCK_CA_CERT"]
VAULT = f"https://{HTTPS}"


def credential(app=SERVICE_APP, secret=SERVICE_SECRET):
    return ClientSecretCredential(
        TENANT,
        app,
        secret,
        authority=VAULT,
        connection_verify=CA,
        disable_instance_discovery=True,
    )


def key_client(cred):
    return KeyClient(VAULT, cred, verify_challenge_resource=False, connection_verify=CA)


def crypto_client(key_or_id, cred):
    return CryptographyClient(
        key_or_id, cred, verify_challenge_resource=False, connection_verify=CA
    )


def test_service_encrypts_locally_and_decrypts_in_the_vault():
    cred = credential()
    key = key_client(cred).get_key(KEY)
    assert key.key_type == "RSA"
    assert key.id.startswith(f"{VAULT}/keys/{KEY}/")
    assert len(key.key.n) == 256
    crypto = crypto_client(key, cred)
    for algorithm in (EncryptionAlgorithm.rsa_oaep_256, EncryptionAlgorithm.rsa_oaep):
        encrypted = crypto.encrypt(algorithm, b"a data encryption key")
        assert encrypted.key_id == key.id
        decrypted = crypto.decrypt(algorithm, encrypted.ciphertext)
        assert decrypted.plaintext == b"a data encryption key"
    for algorithm in (KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa_oaep):
        wrapped = crypto.wrap_key(algorithm, b"k" * 32)
        assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == b"k" * 32


def test_crypto_client_from_a_key_id():
    cred = credential()
    key = key_client(cred).get_key(KEY)
    crypto = crypto_client(key.id, cred)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"dek")
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"dek"


def test_rotation_keeps_old_ciphertext_readable():
    admin = key_client(credential(ADMIN_APP, ADMIN_SECRET))
    name = f"py-{uuid.uuid4().hex[:12]}"
    first = admin.create_rsa_key(name, size=2048)
    cred = credential()
    old = crypto_client(first, cred).encrypt(EncryptionAlgorithm.rsa_oaep_256, b"old")
    rotated = admin.rotate_key(name)
    assert rotated.properties.version != first.properties.version
    new_key = key_client(cred).get_key(name)
    assert new_key.id == rotated.id
    # The old versioned kid still decrypts.
    again = crypto_client(old.key_id, cred).decrypt(EncryptionAlgorithm.rsa_oaep_256, old.ciphertext)
    assert again.plaintext == b"old"


def test_owner_disables_and_service_is_refused():
    admin = key_client(credential(ADMIN_APP, ADMIN_SECRET))
    name = f"py-{uuid.uuid4().hex[:12]}"
    admin.create_rsa_key(name)
    cred = credential()
    key = key_client(cred).get_key(name)
    admin.update_key_properties(name, enabled=False)
    try:
        crypto_client(key.id, cred).decrypt(EncryptionAlgorithm.rsa_oaep_256, b"\0" * 256)
    except HttpResponseError as error:
        assert error.status_code == 403
        assert "KeyDisabled" in str(error) or "disabled" in str(error)
    else:
        raise AssertionError("a disabled key decrypted")
    admin.update_key_properties(name, enabled=True)


def test_owner_disables_an_old_version_and_only_its_data_is_refused():
    admin = key_client(credential(ADMIN_APP, ADMIN_SECRET))
    name = f"py-{uuid.uuid4().hex[:12]}"
    admin.create_rsa_key(name)
    cred = credential()
    old = crypto_client(key_client(cred).get_key(name).id, cred).encrypt(
        EncryptionAlgorithm.rsa_oaep_256, b"old"
    )
    admin.rotate_key(name)
    new = crypto_client(key_client(cred).get_key(name).id, cred).encrypt(
        EncryptionAlgorithm.rsa_oaep_256, b"new"
    )
    old_version = old.key_id.rsplit("/", 1)[1]
    assert new.key_id.rsplit("/", 1)[1] != old_version

    disabled = admin.update_key_properties(name, old_version, enabled=False)
    assert disabled.properties.enabled is False
    assert disabled.properties.version == old_version
    assert admin.get_key(name, old_version).properties.enabled is False
    assert admin.get_key(name).properties.enabled is True
    try:
        crypto_client(old.key_id, cred).decrypt(old.algorithm, old.ciphertext)
    except HttpResponseError as error:
        assert error.status_code == 403
        assert "KeyDisabled" in str(error)
    else:
        raise AssertionError("a disabled version decrypted")
    again = crypto_client(new.key_id, cred).decrypt(new.algorithm, new.ciphertext)
    assert again.plaintext == b"new"

    admin.update_key_properties(name, old_version, enabled=True)
    back = crypto_client(old.key_id, cred).decrypt(old.algorithm, old.ciphertext)
    assert back.plaintext == b"old"


def test_service_may_not_manage_keys():
    try:
        key_client(credential()).rotate_key(KEY)
    except HttpResponseError as error:
        assert error.status_code == 403
        assert "ForbiddenByRbac" in str(error)
    else:
        raise AssertionError("the service rotated the key")


def test_wrong_client_secret_is_refused():
    try:
        key_client(credential(SERVICE_APP, "wrong")).get_key(KEY)
    except ClientAuthenticationError as error:
        assert "AADSTS7000215" in str(error)
    else:
        raise AssertionError("a wrong secret signed in")


def test_calls_are_logged():
    http = os.environ.get("MOCK_HTTP")
    if not http:
        return
    with urllib.request.urlopen(f"http://{http}/_mock/v1/calls?since=0") as response:
        calls = json.load(response)["calls"]
    operations = {c["operation"] for c in calls if c["provider"] == "azure"}
    assert {"token", "get"} <= operations


if __name__ == "__main__":
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
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
