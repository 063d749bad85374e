"""local/apigw_policy.py against the matching rules AWS documents (cited in the module)."""

from __future__ import annotations

import pytest

from local.apigw_policy import PolicyError, Stage, allowed, concrete_paths, evaluate, explain

STAGE = Stage(region="us-east-1", account="111122223333", api_id="a123456789", stage="test")
P = STAGE.prefix


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(*resources: str, action: object = "execute-api:Invoke") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": list(resources)}


def deny(*resources: str) -> dict:
    return {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": list(resources)}


def test_method_arn_format() -> None:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html
    assert STAGE.method_arn("GET", "/pets/1") == (
        "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/GET/pets/1"
    )
    with pytest.raises(ValueError, match="starts with /"):
        STAGE.method_arn("GET", "pets")


@pytest.mark.parametrize(
    ("resource", "request_arn", "decision"),
    [
        # exact
        (f"{P}/GET/pets", f"{P}/GET/pets", "Allow"),
        (f"{P}/GET/pets", f"{P}/POST/pets", "Deny"),
        (f"{P}/GET/pets", f"{P}/GET/pets/1", "Deny"),
        # `*` spans any characters, `/` included: a param as `*` also admits deeper paths
        (f"{P}/GET/pets/*", f"{P}/GET/pets/1", "Allow"),
        (f"{P}/GET/pets/*", f"{P}/GET/pets/1/toys", "Allow"),
        (f"{P}/GET/pets/*/toys", f"{P}/GET/pets/1/toys", "Allow"),
        (f"{P}/GET/pets/*/toys", f"{P}/GET/pets/1", "Deny"),
        (f"{P}/*/*", f"{P}/DELETE/a/b/c", "Allow"),
        (f"{P}/*", f"{P}/GET/pets", "Allow"),
        ("arn:aws:execute-api:us-east-1:*:a123456789/test/*", f"{P}/GET/x", "Allow"),
        ("*", f"{P}/GET/x", "Allow"),
        # `?` is exactly one character, `/` included
        (f"{P}/GET/pets/?", f"{P}/GET/pets/1", "Allow"),
        (f"{P}/GET/pets/?", f"{P}/GET/pets/12", "Deny"),
        (f"{P}/GET/pets/???", f"{P}/GET/pets/1/2", "Allow"),
        # case-sensitive resources; another stage or API is not matched
        (f"{P}/get/pets", f"{P}/GET/pets", "Deny"),
        (P.replace("/test", "/prod") + "/GET/pets", f"{P}/GET/pets", "Deny"),
        # regex metacharacters are literal
        (f"{P}/GET/pets.json", f"{P}/GET/petsXjson", "Deny"),
    ],
)
def test_resource_matching(resource: str, request_arn: str, decision: str) -> None:
    assert evaluate(policy(allow(resource)), request_arn) == decision


def test_explicit_deny_wins_and_no_match_denies() -> None:
    doc = policy(allow(f"{P}/GET/*"), deny(f"{P}/GET/pets/*/toys"))
    assert evaluate(doc, f"{P}/GET/pets/1") == "Allow"
    assert evaluate(doc, f"{P}/GET/pets/1/toys") == "Deny"
    assert evaluate(doc, f"{P}/POST/pets") == "Deny"  # implicit: nothing allows it
    # order does not matter
    flipped = policy(deny(f"{P}/GET/pets/*/toys"), allow(f"{P}/GET/*"))
    assert evaluate(flipped, f"{P}/GET/pets/1/toys") == "Deny"


@pytest.mark.parametrize(
    ("action", "applies"),
    [
        ("execute-api:Invoke", True),
        ("execute-api:invoke", True),
        ("execute-api:*", True),
        ("*", True),
        (["s3:GetObject", "execute-api:Invoke"], True),
        ("execute-api:ManageConnections", False),
        ("s3:*", False),
    ],
)
def test_action_must_cover_invoke(action: object, applies: bool) -> None:
    doc = policy(allow(f"{P}/GET/pets", action=action))
    assert evaluate(doc, f"{P}/GET/pets") == ("Allow" if applies else "Deny")


def test_a_single_statement_object_and_a_single_resource_string() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{P}/*"},
    }
    assert evaluate(doc, f"{P}/GET/pets") == "Allow"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"Statement": [allow("*")]}, "Version must be one of"),
        (policy(), "non-empty list"),
        (policy({"Effect": "Maybe", "Action": "*", "Resource": "*"}), "Effect must be"),
        (policy({"Effect": "Allow", "Action": "*", "Resource": []}), "Resource must be"),
        (policy({"Effect": "Allow", "Action": 3, "Resource": "*"}), "Action must be"),
        (
            policy({"Effect": "Allow", "Action": "*", "NotResource": "x", "Resource": "*"}),
            "NotResource",
        ),
        (
            policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}),
            "Condition",
        ),
        ("not a policy", "must be an object"),
    ],
)
def test_malformed_or_unmodelled_policies_are_refused(doc: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        evaluate(doc, f"{P}/GET/pets")  # type: ignore[arg-type]


def test_allowed_and_concrete_paths() -> None:
    paths = concrete_paths("/pets/{pet_id}/toys", ["1", "two"])
    assert paths == ["/pets/1/toys", "/pets/two/toys"]
    doc = policy(allow(f"{P}/GET/pets/*"))
    requests = [("GET", "/pets"), ("GET", "/pets/1"), ("GET", "/pets/1/toys"), ("POST", "/pets/1")]
    assert allowed(doc, STAGE, requests) == {("GET", "/pets/1"), ("GET", "/pets/1/toys")}


@pytest.mark.parametrize(
    ("statements", "request_arn", "outcome", "index"),
    [
        # IAM's evaluation logic: an applying Deny decides, whatever its position; else an
        # applying Allow; else the implicit deny no statement decides
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
        (
            (allow(f"{P}/GET/*"), deny(f"{P}/GET/pets/*/toys")),
            f"{P}/GET/pets/1/toys",
            "ExplicitDeny",
            1,
        ),
        (
            (deny(f"{P}/GET/pets/*/toys"), allow(f"{P}/GET/*")),
            f"{P}/GET/pets/1/toys",
            "ExplicitDeny",
            0,
        ),
        ((allow(f"{P}/GET/*"), deny(f"{P}/GET/pets/*/toys")), f"{P}/GET/pets/1", "Allow", 0),
        ((deny(f"{P}/POST/*"), allow(f"{P}/GET/pets")), f"{P}/GET/pets", "Allow", 1),
        ((allow(f"{P}/GET/pets"),), f"{P}/POST/pets", "ImplicitDeny", None),
        ((deny(f"{P}/*/*"),), f"{P}/GET/pets", "ExplicitDeny", 0),
    ],
)
def test_explain_names_the_deciding_statement(
    statements: tuple[dict, ...], request_arn: str, outcome: str, index: int | None
) -> None:
    why = explain(policy(*statements), request_arn)
    assert (why.outcome, why.index) == (outcome, index)
    assert (why.statement is None) == (index is None)
    assert evaluate(policy(*statements), request_arn) == ("Allow" if outcome == "Allow" else "Deny")
