"""boto3's IAM client against the mock's IAM role calls (GetRole, UpdateAssumeRolePolicy,
PutRolePolicy, GetRolePolicy, DeleteRolePolicy): the customer edits EKM's role as in a real
account, and the next AssumeRole / KMS call is decided by what they wrote (issue 11)."""

import json

import pytest
from botocore.exceptions import ClientError

from test_aws import DEMO_ARN, assume, client, error_code

ROLE_NAME = "ekm-demo"


def iam(access_key="AKIAEKMLABCUSTOMER01", secret="ekm-lab-customer-secret"):
    return client("iam", access_key, secret)


@pytest.fixture
def trust():
    """The role's trust policy as GetRole returns it; put back after the test."""
    admin = iam()
    original = admin.get_role(RoleName=ROLE_NAME)["Role"]["AssumeRolePolicyDocument"]
    yield original
    admin.update_assume_role_policy(RoleName=ROLE_NAME, PolicyDocument=json.dumps(original))


def test_get_role_shows_the_trust_policy_with_the_external_id(trust):
    role = iam().get_role(RoleName=ROLE_NAME)["Role"]
    assert role["Arn"] == "arn:aws:iam::111122223333:role/ekm-demo"
    assert role["MaxSessionDuration"] == 3600
    statement = trust["Statement"][0]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "proj_demo"}}


def test_a_trust_policy_without_external_id_is_the_confused_deputy(trust):
    with pytest.raises(ClientError) as excinfo:
        assume("proj_other_customer")
    assert error_code(excinfo) == "AccessDenied"
    open_trust = json.loads(json.dumps(trust))
    del open_trust["Statement"][0]["Condition"]
    iam().update_assume_role_policy(RoleName=ROLE_NAME, PolicyDocument=json.dumps(open_trust))
    assert assume("proj_other_customer")["AccessKeyId"].startswith("ASIA")


def test_role_policies_are_put_read_and_deleted_and_a_deny_decides(trust):
    admin = iam()
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
    }
    admin.put_role_policy(RoleName=ROLE_NAME, PolicyName="NoDecrypt", PolicyDocument=json.dumps(deny))
    try:
        read = admin.get_role_policy(RoleName=ROLE_NAME, PolicyName="NoDecrypt")
        assert read["PolicyDocument"] == deny
        creds = assume()
        kms = client("kms", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        sealed = kms.encrypt(KeyId=DEMO_ARN, Plaintext=b"dek", EncryptionContext={"ekm:project": "proj_demo"})
        with pytest.raises(ClientError) as excinfo:
            kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext={"ekm:project": "proj_demo"})
        assert error_code(excinfo) == "AccessDeniedException"
        assert "explicit deny in an identity-based policy" in excinfo.value.response["Error"]["Message"]
    finally:
        admin.delete_role_policy(RoleName=ROLE_NAME, PolicyName="NoDecrypt")
    with pytest.raises(ClientError) as excinfo:
        admin.delete_role_policy(RoleName=ROLE_NAME, PolicyName="NoDecrypt")
    assert error_code(excinfo) == "NoSuchEntity"


def test_bad_documents_and_callers_get_iams_errors(trust):
    admin = iam()
    bad = [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "kms:*", "Resource": "*"}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",
                    "Resource": "*", "Condition": {"StringEqualsish": {"aws:PrincipalArn": "x"}}}]}),
        json.dumps({"Version": "2012-10-17", "Statement": [], "Padding": "x" * 40000}),
    ]
    for document in bad:
        with pytest.raises(ClientError) as excinfo:
            admin.put_role_policy(RoleName=ROLE_NAME, PolicyName="Bad", PolicyDocument=document)
        assert error_code(excinfo) == "MalformedPolicyDocument", document[:60]
    with pytest.raises(ClientError) as excinfo:
        admin.update_assume_role_policy(RoleName=ROLE_NAME, PolicyDocument=bad[1])
    assert "$.Statement[0].Effect" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as excinfo:
        admin.get_role(RoleName="someone-elses-role")
    assert error_code(excinfo) == "NoSuchEntity"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    service = iam("AKIAEKMLABSERVICE001", "ekm-lab-service-secret")
    with pytest.raises(ClientError) as excinfo:
        service.update_assume_role_policy(RoleName=ROLE_NAME, PolicyDocument=json.dumps(trust))
    assert error_code(excinfo) == "AccessDenied"
    # Nothing changed: EKM still gets in with its ExternalId only.
    assert assume()["AccessKeyId"].startswith("ASIA")
