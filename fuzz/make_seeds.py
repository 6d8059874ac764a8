#!/usr/bin/env python3
"""Writes the seed corpora of the envelope target (envelopes sealed under the harness's fixed DEK,
made here independently of the Rust code from the format in `engine::envelope`'s docs) and of the
mock targets: real requests of each surface as raw HTTP/1.1, in the
shapes the SDKs send (DESIGN.md section 4 wire facts). The harness signs (SigV4) or authenticates
(bearer) requests that carry no `authorization` header; `x-fuzz-as` says as whom. Re-run after
changing a request here: `python3 fuzz/make_seeds.py`."""
import base64, hashlib, json, os, struct, urllib.parse

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
ARN = "arn:aws:kms:us-east-1:111122223333:key/0b5c1f3e-8d2a-4e7b-9c61-2f4a7d9e1b30"
GCP_KEY = "projects/demo-project-12345/locations/us-east1/keyRings/ekm-ring/cryptoKeys/ekm-key"
TENANT = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
WIF = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ekm-pool/providers/ekm-provider"
DEK = base64.b64encode(bytes(range(32))).decode()
CTX = {"ekm:project": "proj_demo"}


def req(method, path, body=b"", headers=(), as_=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1:4599"]
    head += [f"{k}: {v}" for k, v in headers]
    if as_:
        head.append(f"x-fuzz-as: {as_}")
    head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def kms(op, body, as_=None):
    return req("POST", "/", body, [("content-type", "application/x-amz-json-1.1"),
                                   ("x-amz-target", f"TrentService.{op}")], as_)


def form(path, fields, as_=None):
    return req("POST", path, urllib.parse.urlencode(fields),
               [("content-type", "application/x-www-form-urlencoded; charset=utf-8")], as_)


def gcp(path, body=None, method="POST", as_=None):
    return req(method, path + "?%24alt=json%3Benum-encoding%3Dint", body or b"",
               [("content-type", "application/json")] if body else [], as_)


def kv(method, path, body=None, as_=None):
    return req(method, path + "?api-version=7.6", body or b"",
               [("content-type", "application/json")] if body else [], as_)


ASSUME = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": "arn:aws:iam::111122223333:role/ekm-demo",
          "RoleSessionName": "ekm", "DurationSeconds": "3600", "ExternalId": "proj_demo"}
STS = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
       "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
       "subject_token": "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJwcm9qX2RlbW8ifQ.c2ln",
       "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "audience": WIF,
       "scope": "https://www.googleapis.com/auth/cloud-platform"}
ENTRA = {"grant_type": "client_credentials", "client_id": "11111111-2222-4333-8444-555555555555",
         "client_secret": "ekm-lab-azure-secret", "scope": "https://vault.azure.net/.default"}

SEEDS = {
    "mock_http": {
        "aws-encrypt-service": kms("Encrypt", {"KeyId": "alias/ekm-demo", "Plaintext": DEK, "EncryptionContext": CTX}, "service"),
        "aws-encrypt-owner": kms("Encrypt", {"KeyId": ARN, "Plaintext": DEK, "EncryptionContext": CTX}),
        "aws-decrypt": kms("Decrypt", {"CiphertextBlob": base64.b64encode(b"\x01" * 80).decode(), "KeyId": ARN, "EncryptionContext": CTX}, "service"),
        "aws-generate-data-key": kms("GenerateDataKey", {"KeyId": ARN, "KeySpec": "AES_256", "NumberOfBytes": 32}),
        "aws-describe-key": kms("DescribeKey", {"KeyId": "alias/ekm-demo"}),
        "aws-list-aliases": kms("ListAliases", {"KeyId": ARN, "Limit": 10}),
        "aws-create-key": kms("CreateKey", {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "Description": "fuzz"}),
        "aws-disable-enable": kms("DisableKey", {"KeyId": ARN}) + kms("EnableKey", {"KeyId": ARN}),
        "aws-schedule-deletion": kms("ScheduleKeyDeletion", {"KeyId": ARN, "PendingWindowInDays": 7}),
        "aws-rotate": kms("RotateKeyOnDemand", {"KeyId": ARN}) + kms("ListKeyRotations", {"KeyId": ARN}),
        "aws-alias": kms("CreateAlias", {"AliasName": "alias/fuzz", "TargetKeyId": ARN}) + kms("UpdateAlias", {"AliasName": "alias/fuzz", "TargetKeyId": ARN}),
        "aws-unsigned": kms("Encrypt", {"KeyId": ARN, "Plaintext": DEK}, "anonymous"),
        "aws-bad-signature": req("POST", "/", json.dumps({"KeyId": ARN, "Plaintext": DEK}), [
            ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "TrentService.Encrypt"),
            ("x-amz-date", "20260101T000000Z"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAEKMLABCUSTOMER01/20260101/us-east-1/kms/aws4_request, "
                              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64)]),
        "aws-session-token": req("POST", "/", json.dumps({"KeyId": ARN, "Plaintext": DEK}), [
            ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "TrentService.Encrypt"),
            ("x-amz-date", "20260101T000000Z"), ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLE"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/kms/aws4_request, "
                              "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" + "a" * 64)]),
        "sts-assume-role": form("/", ASSUME, "service"),
        "gcp-encrypt-service": gcp(f"/v1/{GCP_KEY}:encrypt", {"plaintext": DEK, "additionalAuthenticatedData": base64.b64encode(b"proj_demo").decode(), "plaintextCrc32c": "123456"}, as_="service"),
        "gcp-encrypt-owner": gcp(f"/v1/{GCP_KEY}:encrypt", {"plaintext": DEK}),
        "gcp-decrypt": gcp(f"/v1/{GCP_KEY}:decrypt", {"ciphertext": base64.b64encode(b"\x02" * 80).decode(), "additionalAuthenticatedData": "cHJval9kZW1v", "ciphertextCrc32c": "42"}, as_="service"),
        "gcp-get-key": gcp(f"/v1/{GCP_KEY}", method="GET"),
        "gcp-versions": gcp(f"/v1/{GCP_KEY}/cryptoKeyVersions", method="GET") + gcp(f"/v1/{GCP_KEY}/cryptoKeyVersions/1:disable", {}),
        "gcp-version-patch": gcp(f"/v1/{GCP_KEY}/cryptoKeyVersions/1?updateMask=state", {"state": "DISABLED"}, method="PATCH"),
        "gcp-sts": form("/v1/token", STS, "anonymous"),
        "gcp-id-token": req("POST", "/_mock/v1/identity/gcp-id-token", json.dumps({"audience": "proj_demo"}), [("content-type", "application/json")], "anonymous")
                        + req("GET", "/_mock/v1/identity/jwks", as_="anonymous"),
        "gcp-impersonate": gcp("/v1/projects/-/serviceAccounts/ekm-service@demo-project-12345.iam.gserviceaccount.com:generateAccessToken", {"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}, as_="service"),
        "gcp-bad-token": req("POST", f"/v1/{GCP_KEY}:encrypt", json.dumps({"plaintext": DEK}), [("content-type", "application/json"), ("authorization", "Bearer not-a-token")]),
    },
    "mock_azure": {
        "entra-token-secret": form(f"/{TENANT}/oauth2/v2.0/token", ENTRA, "anonymous"),
        "entra-token-assertion": form(f"/{TENANT}/oauth2/v2.0/token", {"grant_type": "client_credentials", "client_id": ENTRA["client_id"], "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "eyJhbGciOiJSUzI1NiIsIng1dCI6ImFiYyJ9.e30.c2ln", "scope": "https://vault.azure.net/.default"}, "anonymous"),
        "entra-openid": req("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration", as_="anonymous") + req("GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=x", as_="anonymous"),
        "kv-challenge": req("POST", "/keys/ekm-key//encrypt?api-version=7.6", b"", as_="anonymous"),
        "kv-get-key": kv("GET", "/keys/ekm-key/") + kv("GET", "/keys/ekm-key"),
        "kv-encrypt": kv("POST", "/keys/ekm-key//encrypt", {"alg": "RSA-OAEP-256", "value": base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")}, "service"),
        "kv-decrypt": kv("POST", "/keys/ekm-key/00000000000000000000000000000001/decrypt", {"alg": "RSA-OAEP-256", "value": base64.urlsafe_b64encode(b"\x03" * 256).decode().rstrip("=")}, "service"),
        "kv-wrap-unwrap": kv("POST", "/keys/ekm-key//wrapkey", {"alg": "RSA-OAEP", "value": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}) + kv("POST", "/keys/ekm-key//unwrapkey", {"alg": "RSA-OAEP", "value": "AAEC"}),
        "kv-create": kv("POST", "/keys/fuzz-key/create", {"kty": "RSA", "key_size": 2048, "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"], "attributes": {"enabled": True}}),
        "kv-create-ec": kv("POST", "/keys/fuzz-ec/create", {"kty": "EC", "crv": "P-256"}),
        "kv-rotate": kv("POST", "/keys/ekm-key/rotate", {}),
        "kv-update": kv("PATCH", "/keys/ekm-key", {"attributes": {"enabled": False}}) + kv("PATCH", "/keys/ekm-key/", {"attributes": {"enabled": True}}),
        "kv-bad-token": req("GET", "/keys/ekm-key?api-version=7.6", headers=[("authorization", "Bearer eyJ0eXAiOiJKV1QifQ.e30.x")]),
    },
    "mock_control": {
        "list-keys": req("GET", "/_mock/v1/keys") + req("GET", "/_mock/v1/keys/aws-demo"),
        "create-keys": req("POST", "/_mock/v1/keys", {"name": "fuzz-aws", "provider": "aws", "spec": "SYMMETRIC_DEFAULT"})
                       + req("POST", "/_mock/v1/keys", {"name": "fuzz-gcp", "provider": "gcp", "spec": "SYMMETRIC_DEFAULT"}),
        "actions": b"".join(req("POST", f"/_mock/v1/keys/aws-demo/{a}") for a in ["rotate", "disable", "enable", "revoke-access", "restore-access", "revoke-trust", "restore-trust"]),
        "destroy": req("POST", "/_mock/v1/keys/gcp-demo/schedule-deletion") + req("POST", "/_mock/v1/clock/advance", {"seconds": 2678400}) + req("GET", "/_mock/v1/keys/gcp-demo") + req("POST", "/_mock/v1/keys/aws-demo/destroy"),
        "alias": req("GET", "/_mock/v1/aliases") + req("PUT", "/_mock/v1/aliases/ekm-demo", {"target": "aws-demo"}),
        "faults": req("PUT", "/_mock/v1/faults", [{"provider": "aws", "operation": "encrypt", "key": "aws-demo", "error": "throttled", "probability": 0.5},
                                                  {"provider": "gcp", "throttle": {"limit": 1, "per_seconds": 60}},
                                                  {"provider": "azure", "operation": "*", "latency_ms": 10, "outage": True}])
                  + req("GET", "/_mock/v1/faults")
                  + kms("Encrypt", {"KeyId": "alias/ekm-demo", "Plaintext": DEK, "EncryptionContext": CTX})
                  + req("DELETE", "/_mock/v1/faults"),
        "calls-clock": req("GET", "/_mock/v1/calls?since=0") + req("GET", "/_mock/v1/clock") + req("POST", "/_mock/v1/clock/advance", {"seconds": 3600}),
        "unknown": req("POST", "/_mock/v1/keys/aws-demo/explode") + req("GET", "/_mock/v1/nothing"),
    },
}

FIXED_DEK = bytes([7] * 32)  # ekm_fuzz::envelope::FIXED_DEK


def str16(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">H", len(b)) + b


def hkdf(salt, info):
    return HKDF(algorithm=SHA256(), length=32, salt=salt, info=info).derive(FIXED_DEK)


def envelope(plaintext, frame_len=65536, context=(), provider="aws", key=ARN, edek=b"\x01" * 40):
    message_id = hashlib.sha256(plaintext + bytes([frame_len % 256])).digest()
    header = b"EKML" + bytes([1]) + struct.pack(">H", 1) + bytes([len(provider)]) + provider.encode()
    header += str16(key) + str16(key + ":v1") + str16("proj_demo") + bytes(range(16)) + str16(edek)
    header += struct.pack(">H", len(context)) + b"".join(str16(k) + str16(v) for k, v in sorted(context))
    header += message_id + struct.pack(">IQ", frame_len, len(plaintext))
    header += hkdf(message_id, b"\x00\x01commit")
    digest = hashlib.sha256(header).digest()
    aead = AESGCM(hkdf(message_id, b"\x00\x01data"))
    frames = max(1, -(-len(plaintext) // frame_len))
    body = b""
    for i in range(frames):
        chunk = plaintext[i * frame_len:(i + 1) * frame_len]
        aad = digest + struct.pack(">QB", i, 1 if i + 1 == frames else 0)
        body += aead.encrypt(struct.pack(">4xQ", i), chunk, aad)
    return header + body


SEEDS["envelope"] = {
    "raw-empty": b"\x00" + envelope(b""),
    "raw-short": b"\x00" + envelope(b"hello, envelope", context=[("tenant", "a"), ("path", "/x")]),
    "raw-frames": b"\x00" + envelope(bytes(range(40)), frame_len=16, provider="gcp", key=GCP_KEY),
    "raw-exact-frames": b"\x00" + envelope(bytes(32), frame_len=16, provider="azure", key="https://127.0.0.1:4600/keys/ekm-key"),
    "sealed-small": b"\x01" + bytes(range(1, 120)),
    "sealed-edits": b"\x01" + b"aws\x00key\x00v\x00p\x00" + bytes(range(200, 256)) * 3,
}

for target, seeds in SEEDS.items():
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    for name, data in seeds.items():
        ext = ".bin" if target == "envelope" else ".http"
        with open(os.path.join(HERE, target, name + ext), "wb") as f:
            f.write(data)
