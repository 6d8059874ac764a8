"""boto3 sets up an AWS KMS external key store against the mock's own XKS proxy (a custom key
store of type EXTERNAL_KEY_STORE, then a KMS key with Origin EXTERNAL_KEY_STORE) and round-trips
through the hop; a disabled external key answers KMSInvalidStateException."""

import json
import os
import urllib.request

import pytest
from botocore.exceptions import ClientError

from test_aws import owner_kms, service_kms, error_code

CONTROL = "http://" + os.environ["MOCK_HTTP"] + "/_mock/v1/xks"
PORT = os.environ["MOCK_HTTPS"].rsplit(":", 1)[1]


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(CONTROL + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_boto3_sets_up_an_external_key_store_and_round_trips():
    control("POST", "/keys", {"id": "boto3-xk"})
    control("PUT", "/timeout", {"timeout_ms": 5000})
    kms = owner_kms()
    store = kms.create_custom_key_store(
        CustomKeyStoreName="boto3-store",
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint="https://localhost:" + PORT,
        XksProxyUriPath="/ekm-lab/kms/xks/v1",
        XksProxyAuthenticationCredential={
            "AccessKeyId": "EKMLABXKSPROXYACCESSKEY2",
            "RawSecretAccessKey": "ekmLabXksProxySecretKey/0123456789+abcdefghij=",
        },
    )["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    described = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]
    assert described["ConnectionState"] == "CONNECTED"
    assert described["XksProxyConfiguration"]["UriPath"] == "/ekm-lab/kms/xks/v1"
    key = kms.create_key(
        Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store, XksKeyId="boto3-xk"
    )["KeyMetadata"]
    assert key["Origin"] == "EXTERNAL_KEY_STORE"
    assert key["XksKeyConfiguration"]["Id"] == "boto3-xk"

    service = service_kms()
    context = {"ekm:project": "proj_demo"}
    blob = service.encrypt(KeyId=key["Arn"], Plaintext=b"dek", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    assert service.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"dek"

    control("POST", "/keys/boto3-xk/disable")
    with pytest.raises(ClientError) as excinfo:
        service.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert error_code(excinfo) == "KMSInvalidStateException"
    assert "not enabled in the external key manager" in str(excinfo.value)
