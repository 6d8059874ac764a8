"""Python's google-cloud-kms against the mock's Cloud EKM model: a crypto key of protection level
EXTERNAL whose version names an external key of the lab's external key manager; encrypt and
decrypt make the hop; the manager refusing or being down answers Google's error shapes."""

import json
import urllib.error
import urllib.request

import pytest
from google.api_core import exceptions
from google.cloud import kms
from google.oauth2.credentials import Credentials as BearerCredentials

from test_gcp import BASE, OWNER_TOKEN, client, service_credentials, status_of

XKS = f"{BASE}/_mock/v1/xks"


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(XKS + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def ekm_key():
    control("PUT", "/timeout", {"timeout_ms": 5000})
    control("POST", "/keys", {"id": "py-ekm"})
    bound = control(
        "POST",
        "/bindings",
        {"name": "py-ekm-key", "provider": "gcp", "external_key": "py-ekm"},
    )
    yield bound
    control("PUT", "/fleet", {"status": "ACTIVE"})


def round_trip(name):
    service = client(service_credentials())
    sealed = service.encrypt(
        request={"name": name, "plaintext": b"dek", "additional_authenticated_data": b"p"}
    )
    opened = service.decrypt(
        request={
            "name": name,
            "ciphertext": sealed.ciphertext,
            "additional_authenticated_data": b"p",
        }
    )
    assert opened.plaintext == b"dek"
    return sealed, opened


def test_an_external_key_round_trips_through_the_hop(ekm_key):
    name = ekm_key["id"]
    sealed, opened = round_trip(name)
    assert sealed.protection_level == kms.ProtectionLevel.EXTERNAL
    assert opened.protection_level == kms.ProtectionLevel.EXTERNAL
    owner = client(BearerCredentials(OWNER_TOKEN))
    key = owner.get_crypto_key(request={"name": name})
    assert key.version_template.protection_level == kms.ProtectionLevel.EXTERNAL
    options = key.primary.external_protection_level_options
    assert options.external_key_uri == ekm_key["external_key_uri"]
    assert options.external_key_uri.endswith("/kms/xks/v1/keys/py-ekm")


def test_a_refusing_manager_is_failed_precondition_with_its_error_domain(ekm_key):
    name = ekm_key["id"]
    service = client(service_credentials())
    sealed = service.encrypt(request={"name": name, "plaintext": b"dek"})
    control("POST", "/keys/py-ekm/disable")
    try:
        with pytest.raises(exceptions.BadRequest) as raised:
            service.decrypt(request={"name": name, "ciphertext": sealed.ciphertext})
        error = raised.value.response.json()["error"]
        assert error["status"] == "FAILED_PRECONDITION"
        failure = error["details"][0]
        assert failure["@type"] == "type.googleapis.com/google.rpc.PreconditionFailure"
        assert failure["violations"][1]["type"] == "EXTERNAL_KEY_DISABLED"
        assert failure["violations"][1]["subject"] == ekm_key["external_key_uri"]
    finally:
        control("POST", "/keys/py-ekm/enable")
    round_trip(name)


def test_an_unavailable_manager_is_unavailable_and_recovers(ekm_key):
    name = ekm_key["id"]
    control("PUT", "/fleet", {"status": "UNAVAILABLE"})
    try:
        with pytest.raises(exceptions.ServiceUnavailable) as raised:
            # No retry: the client retries UNAVAILABLE for a minute by default.
            client(service_credentials()).encrypt(
                request={"name": name, "plaintext": b"dek"}, retry=None
            )
        assert status_of(raised.value) == "UNAVAILABLE"
    finally:
        control("PUT", "/fleet", {"status": "ACTIVE"})
    round_trip(name)


def test_the_call_log_shows_both_hops(ekm_key):
    with urllib.request.urlopen(f"{BASE}/_mock/v1/calls?since=0") as response:
        calls = json.load(response)["calls"]
    seen = {
        (c.get("hop") or "kms", c["provider"], c["operation"])
        for c in calls
        if c["key"] in ("py-ekm-key", "py-ekm")
    }
    assert ("kms", "gcp", "encrypt") in seen
    assert ("xks", "gcp", "Encrypt") in seen
    assert ("xks-proxy", "gcp", "Encrypt") in seen


def test_a_binding_to_an_unknown_external_key_is_404():
    with pytest.raises(urllib.error.HTTPError) as raised:
        control("POST", "/bindings", {"name": "nope", "provider": "gcp", "external_key": "missing"})
    assert raised.value.code == 404
