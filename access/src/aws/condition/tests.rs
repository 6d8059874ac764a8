//! Condition semantics from the IAM User Guide, one row per documented rule.

use super::*;
use serde_json::json;

fn conditions(block: serde_json::Value) -> Vec<Condition> {
    Condition::parse_block(At::root(&block)).unwrap()
}

fn holds(block: serde_json::Value, context: &Context) -> Outcome {
    let all = conditions(block);
    assert_eq!(all.len(), 1);
    all[0].evaluate(context)
}

fn ctx() -> Context {
    Context::new()
        .with("sts:ExternalId", "proj_demo")
        .with("aws:TokenIssueTime", "2026-12-02T10:00:00Z")
        .with_encryption_context([("project", "proj_demo"), ("purpose", "ekm")])
}

#[test]
fn documented_condition_rules() {
    use Outcome::Holds;
    let table: Vec<(serde_json::Value, bool)> = vec![
        // values for one key are ORed
        (
            json!({"StringEquals": {"sts:ExternalId": ["other", "proj_demo"]}}),
            true,
        ),
        (
            json!({"StringEquals": {"sts:ExternalId": "proj_wrong"}}),
            false,
        ),
        // condition key names are case-insensitive, values are not
        (
            json!({"StringEquals": {"STS:EXTERNALID": "proj_demo"}}),
            true,
        ),
        (
            json!({"StringEquals": {"sts:ExternalId": "PROJ_DEMO"}}),
            false,
        ),
        (
            json!({"StringEqualsIgnoreCase": {"sts:ExternalId": "PROJ_DEMO"}}),
            true,
        ),
        (json!({"StringLike": {"sts:ExternalId": "proj_*"}}), true),
        // negated operators: values are ANDed
        (
            json!({"StringNotEquals": {"sts:ExternalId": ["a", "b"]}}),
            true,
        ),
        (
            json!({"StringNotEquals": {"sts:ExternalId": ["a", "proj_demo"]}}),
            false,
        ),
        // an absent key fails a positive operator, passes a negated one and IfExists
        (json!({"StringEquals": {"sts:RoleSessionName": "x"}}), false),
        (
            json!({"StringNotEquals": {"sts:RoleSessionName": "x"}}),
            true,
        ),
        (
            json!({"StringEqualsIfExists": {"sts:RoleSessionName": "x"}}),
            true,
        ),
        (json!({"Null": {"sts:RoleSessionName": "true"}}), true),
        (json!({"Null": {"sts:ExternalId": "true"}}), false),
        (json!({"Null": {"sts:ExternalId": false}}), true),
        // kms:EncryptionContext:<k>: the context key is case-insensitive
        (
            json!({"StringEquals": {"kms:EncryptionContext:Project": "proj_demo"}}),
            true,
        ),
        // multi-valued keys and set qualifiers
        (
            json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["project", "purpose", "x"]}}),
            true,
        ),
        (
            json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["project"]}}),
            false,
        ),
        (
            json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["purpose"]}}),
            true,
        ),
        // dates: the revoke-older-sessions deny
        (
            json!({"DateLessThan": {"aws:TokenIssueTime": "2026-12-02T11:00:00Z"}}),
            true,
        ),
        (
            json!({"DateLessThan": {"aws:TokenIssueTime": "2026-12-02T09:00:00Z"}}),
            false,
        ),
        (
            json!({"DateGreaterThan": {"aws:TokenIssueTime": 1764640800}}),
            true,
        ),
    ];
    for (block, want) in table {
        let got = holds(block.clone(), &ctx());
        assert_eq!(got == Holds, want, "{block}: {got:?}");
    }
}

#[test]
fn set_qualifiers_on_an_absent_or_empty_key() {
    let empty = Context::new().with_encryption_context([]);
    let any = json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "project"}});
    let all = json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "project"}});
    assert!(matches!(holds(any, &empty), Outcome::Fails(_)));
    assert_eq!(holds(all, &empty), Outcome::Holds);
}

#[test]
fn what_the_lab_cannot_evaluate_is_unknown_never_true() {
    for block in [
        json!({"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
        json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ] {
        assert!(
            matches!(holds(block.clone(), &ctx()), Outcome::Unknown(_)),
            "{block}"
        );
    }
}

#[test]
fn malformed_blocks_name_the_path() {
    let cases = [
        (
            json!({"StringEqualz": {"sts:ExternalId": "x"}}),
            "$.StringEqualz",
            "unknown condition operator",
        ),
        (
            json!({"ForSomeValues:StringEquals": {"k": "x"}}),
            "$.ForSomeValues:StringEquals",
            "set qualifier",
        ),
        (
            json!({"NumericLessThan": {"k": "ten"}}),
            "$.NumericLessThan.k",
            "not a valid number",
        ),
        (
            json!({"DateLessThan": {"k": "yesterday"}}),
            "$.DateLessThan.k",
            "not a valid date",
        ),
        (
            json!({"StringEquals": {"k": []}}),
            "$.StringEquals.k",
            "empty list",
        ),
        (
            json!({"StringEquals": {"k": {"a": 1}}}),
            "$.StringEquals.k",
            "strings, numbers or booleans",
        ),
        (json!({"StringEquals": "x"}), "$.StringEquals", "object"),
        (
            json!({"ForAnyValue:Null": {"k": "true"}}),
            "$.ForAnyValue:Null",
            "Null",
        ),
    ];
    for (block, path, why) in cases {
        let err = Condition::parse_block(At::root(&block)).unwrap_err();
        assert_eq!(err.path, path, "{block}");
        assert!(err.reason.contains(why), "{block}: {err}");
    }
}

#[test]
fn a_failure_names_the_value_the_request_sent() {
    let block = json!({"StringEquals": {"sts:ExternalId": "proj_demo"}});
    let wrong = Context::new().with("sts:ExternalId", "proj_wrong");
    let Outcome::Fails(why) = holds(block, &wrong) else {
        panic!("must fail")
    };
    assert!(
        why.contains("proj_wrong") && why.contains("proj_demo"),
        "{why}"
    );
}

/// An encryption-context value is the caller's to choose: a `*` in it is a literal the pattern's
/// wildcard covers, so a `StringLike` (say, of a Deny) still holds for `a**b` against `a*b` and
/// its negation does not. Before, the pattern's `*` took the text's `*` as its literal twin and
/// never backtracked: `a**b` escaped the statement.
#[test]
fn a_star_in_the_request_value_cannot_escape_a_wildcard() {
    let context = Context::new().with_encryption_context([("tag", "a**b"), ("other", "x*")]);
    for (block, holds_now) in [
        (
            json!({"StringLike": {"kms:EncryptionContext:tag": "a*b"}}),
            true,
        ),
        (
            json!({"StringLike": {"kms:EncryptionContext:tag": "a*"}}),
            true,
        ),
        (
            json!({"StringNotLike": {"kms:EncryptionContext:tag": "a*b"}}),
            false,
        ),
        (
            json!({"StringLike": {"kms:EncryptionContext:other": "x*"}}),
            true,
        ),
    ] {
        assert_eq!(
            holds(block.clone(), &context) == Outcome::Holds,
            holds_now,
            "{block}"
        );
    }
}
