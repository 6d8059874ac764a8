"""boto3 against the mock: STS AssumeRole with ExternalId, then KMS with an EncryptionContext,
and the denials a user's tool would see (DESIGN.md section 4)."""

import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HTTP = "http://" + os.environ["MOCK_HTTP"]
ROLE = "arn:aws:iam::111122223333:role/ekm-demo"
DEMO_ARN = "arn:aws:kms:us-east-1:111122223333:key/0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, access_key, secret, token=None):
    return boto3.client(
        service,
        endpoint_url=HTTP,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=NO_RETRIES,
    )


def assume(external_id="proj_demo"):
    sts = client("sts", "AKIAEKMLABSERVICE001", "ekm-lab-service-secret")
    return sts.assume_role(
        RoleArn=ROLE, RoleSessionName="boto3-check", ExternalId=external_id, DurationSeconds=900
    )["Credentials"]


def service_kms():
    creds = assume()
    return client("kms", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def owner_kms():
    return client("kms", "AKIAEKMLABCUSTOMER01", "ekm-lab-customer-secret")


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_assume_role_then_encrypt_and_decrypt_with_context():
    creds = assume()
    assert creds["AccessKeyId"].startswith("ASIA")
    kms = client("kms", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    context = {"project": "proj_demo", "purpose": "dek"}
    out = kms.encrypt(KeyId="alias/ekm-demo", Plaintext=b"a data key", EncryptionContext=context)
    assert out["KeyId"] == DEMO_ARN
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=context)
    assert back["Plaintext"] == b"a data key"
    assert back["KeyId"] == DEMO_ARN
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"project": "other"})
    assert error_code(excinfo) == "InvalidCiphertextException"


def test_wrong_external_id_is_denied():
    with pytest.raises(ClientError) as excinfo:
        assume("proj_other")
    assert error_code(excinfo) == "AccessDenied"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_service_policy_is_encrypt_and_decrypt_only():
    with pytest.raises(ClientError) as excinfo:
        service_kms().describe_key(KeyId=DEMO_ARN)
    assert error_code(excinfo) == "AccessDeniedException"


def test_unknown_access_key_and_bad_secret():
    with pytest.raises(ClientError) as excinfo:
        client("kms", "AKIANOBODY0000000000", "x").describe_key(KeyId=DEMO_ARN)
    assert error_code(excinfo) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as excinfo:
        client("kms", "AKIAEKMLABCUSTOMER01", "wrong").describe_key(KeyId=DEMO_ARN)
    assert error_code(excinfo) == "InvalidSignatureException"


def test_owner_administers_its_own_key():
    owner = owner_kms()
    key = owner.create_key(Description="boto3 check")["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    owner.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as excinfo:
        owner.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert error_code(excinfo) == "DisabledException"
    owner.enable_key(KeyId=key["KeyId"])
    blob = owner.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    owner.rotate_key_on_demand(KeyId=key["KeyId"])
    assert len(owner.list_key_rotations(KeyId=key["KeyId"])["Rotations"]) == 1
    assert owner.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    aliases = [a["AliasName"] for a in owner.list_aliases()["Aliases"]]
    assert "alias/ekm-demo" in aliases
