"""IAM's evaluation of identity-based policies, for the requests iam-janitor makes.

moto can enforce IAM policies on its callers (INITIAL_NO_AUTH_ACTION_COUNT), but
it matches every IAM action against the resource "*" and evaluates no
condition keys (see the TODO list at the top of moto/iam/access_control.py).
Against it, a correctly scoped policy ("iam:UpdateAccessKey on user/*",
"iam:AttachUserPolicy only when iam:PolicyARN is one of ours") is denied, and
a wrongly scoped one cannot be told apart from a right one. So the emulator
evaluates the caller's policies itself, the way IAM does for a principal in
its own account with no boundary, session policy or SCP:

- an explicit Deny in any statement that applies wins;
- otherwise an Allow that applies allows;
- otherwise the request is implicitly denied.

A statement applies when its Action (or NotAction) matches the action, its
Resource (or NotResource) matches the resource the action is authorized on,
and every condition holds. The resource and the condition keys of each IAM
action come from the Service Authorization Reference ("Actions, resources,
and condition keys for AWS Identity and Access Management").

Anything this module does not model (an action without a rule, a condition
operator, ForAnyValue/ForAllValues, policy variables) raises Unsupported: the
emulator answers 500 rather than guess an answer in either direction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

PARTITION = "aws"


class Unsupported(Exception):
    pass


@dataclass
class Check:
    """One authorization check: `action` on `resource`, with condition keys."""

    action: str
    resource: str
    # Condition keys, lower-cased, to their values.
    context: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Decision:
    allowed: bool
    # "allow", "explicit deny" or "implicit deny".
    reason: str
    check: Check


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_WILDCARD_CACHE: dict[tuple[str, bool], re.Pattern[str]] = {}


def wildcard_match(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character)."""
    if "${" in pattern:
        raise Unsupported(f"policy variables are not modelled: {pattern!r}")
    key = (pattern, ignore_case)
    compiled = _WILDCARD_CACHE.get(key)
    if compiled is None:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        _WILDCARD_CACHE[key] = compiled
    return compiled.match(value) is not None


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ic(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _like(expected: str, actual: str) -> bool:
    return wildcard_match(expected, actual, ignore_case=False)


def _bool(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


# Operator -> (comparison, negated).
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    # ArnEquals and ArnLike behave the same: both take wildcards.
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (_bool, False),
}


def condition_holds(block: Any, context: dict[str, list[str]]) -> bool:
    """Every operator, every key: AND. The values of one key: OR."""
    if not isinstance(block, dict):
        raise Unsupported(f"Condition must be an object, got {block!r}")
    for operator, keys in block.items():
        qualifier, _, rest = operator.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise Unsupported(f"condition operator not modelled: {operator}")
        if_exists = rest.endswith("IfExists")
        base = rest[: -len("IfExists")] if if_exists else rest
        if not isinstance(keys, dict):
            raise Unsupported(f"Condition {operator} must be an object, got {keys!r}")
        for key, expected_raw in keys.items():
            expected = [str(v) for v in as_list(expected_raw)]
            actual = context.get(key.lower())
            if base == "Null":
                # "true": the key must be absent; "false": present.
                want_absent = expected[0].lower() == "true"
                if (actual is None) != want_absent:
                    return False
                continue
            if base not in OPERATORS:
                raise Unsupported(f"condition operator not modelled: {operator}")
            compare, negated = OPERATORS[base]
            if qualifier:
                # Set operators: each value of a multivalued key is tested alone.
                def value_holds(a: str) -> bool:
                    return any(compare(e, a) for e in expected) != negated
                if qualifier == "ForAnyValue":
                    # A missing key (no values) holds for no value: false.
                    if not (actual and any(value_holds(a) for a in actual)):
                        return False
                elif not all(value_holds(a) for a in actual or []):
                    # ForAllValues: a missing key holds vacuously (IAM's known trap).
                    return False
                continue
            if actual is None:
                # A missing key matches nothing: true only for IfExists and
                # for the negated operators.
                if not (if_exists or negated):
                    return False
                continue
            hit = any(compare(e, a) for e in expected for a in actual)
            if hit == negated:
                return False
    return True


def element_matches(statement: dict[str, Any], element: str, value: str,
                    ignore_case: bool) -> bool:
    """Whether `element` (Action or Resource) or its Not- form admits `value`."""
    if element in statement:
        return any(wildcard_match(p, value, ignore_case) for p in as_list(statement[element]))
    if f"Not{element}" in statement:
        return not any(wildcard_match(p, value, ignore_case)
                       for p in as_list(statement[f"Not{element}"]))
    raise Unsupported(f"identity-based statement without {element} or Not{element}: {statement!r}")


def statement_applies(statement: dict[str, Any], check: Check) -> bool:
    if not element_matches(statement, "Action", check.action, ignore_case=True):
        return False
    if not element_matches(statement, "Resource", check.resource, ignore_case=False):
        return False
    if "Condition" in statement:
        return condition_holds(statement["Condition"], check.context)
    return True


def denied_by_scps(scps: list[dict[str, Any]], check: Check) -> bool:
    """Whether a service control policy explicitly denies the check. The Allow side
    of SCPs is taken as FullAWSAccess (the default attachment); only denies are read."""
    for document in scps:
        for statement in as_list(document.get("Statement", [])):
            if statement.get("Effect") == "Deny" and statement_applies(statement, check):
                return True
    return False


def evaluate(documents: list[dict[str, Any]], check: Check) -> Decision:
    allowed = False
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            if not isinstance(statement, dict):
                raise Unsupported(f"statement must be an object: {statement!r}")
            if not statement_applies(statement, check):
                continue
            effect = statement.get("Effect")
            if effect == "Deny":
                return Decision(False, "explicit deny", check)
            if effect == "Allow":
                allowed = True
            else:
                raise Unsupported(f"Effect must be Allow or Deny, got {effect!r}")
    return Decision(allowed, "allow" if allowed else "implicit deny", check)


# --------------------------------------------------------------------------
# What each IAM action is authorized on
# --------------------------------------------------------------------------

# Actions with no resource type: authorized on "*" only.
STAR_ACTIONS = {
    "GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails",
    "GetAccountSummary", "GetServiceLastAccessedDetails",
    "GetServiceLastAccessedDetailsWithEntities", "ListUsers", "ListPolicies", "ListRoles",
    "ListGroups", "GetAccountPasswordPolicy", "ListAccountAliases",
}

# Actions on a user, named by the UserName parameter (the caller when absent).
USER_ACTIONS = {
    "GetUser", "CreateUser", "DeleteUser", "UpdateUser", "TagUser", "UntagUser", "ListUserTags",
    "GetLoginProfile", "CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
    "ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
    "ListAttachedUserPolicies", "ListUserPolicies", "GetUserPolicy", "PutUserPolicy",
    "DeleteUserPolicy", "ListGroupsForUser", "ListMFADevices", "ListSSHPublicKeys",
    "ListServiceSpecificCredentials", "ListSigningCertificates", "UpdateSigningCertificate",
    "UploadSigningCertificate", "DeleteSigningCertificate", "UpdateServiceSpecificCredential",
    "CreateServiceSpecificCredential", "DeleteServiceSpecificCredential", "UpdateSSHPublicKey",
    "UploadSSHPublicKey", "DeleteSSHPublicKey",
}

# Actions on a role, named by the RoleName parameter.
ROLE_ACTIONS = {
    "GetRole", "DeleteRole", "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary", "TagRole", "UntagRole",
}

# Actions on a user that also carry the iam:PolicyARN condition key.
USER_POLICY_ARN_ACTIONS = {"AttachUserPolicy", "DetachUserPolicy"}

# Actions on a customer managed policy, named by the PolicyArn parameter.
POLICY_ACTIONS = {
    "GetPolicy", "DeletePolicy", "GetPolicyVersion", "ListPolicyVersions",
    "CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion",
    "TagPolicy", "UntagPolicy", "ListPolicyTags", "ListEntitiesForPolicy",
}


def _tag_keys(params: dict[str, str], prefix: str = "Tags.member") -> list[str]:
    keys = []
    i = 1
    while f"{prefix}.{i}.Key" in params:
        keys.append(params[f"{prefix}.{i}.Key"])
        i += 1
    return keys


def iam_checks(account: str, action: str, params: dict[str, str],
               user_path: Callable[[str], str | None],
               key_owner: Callable[[str], str | None],
               caller_user: str | None,
               role_path: Callable[[str], str | None] = lambda _: None,
               user_tags: Callable[[str], dict[str, str]] = lambda _: {}) -> list[Check]:
    """The checks IAM makes for one IAM request.

    `user_path(name)` is the path of an existing user (None if there is no such
    user: IAM then authorizes on the ARN the name would have); `key_owner(id)`
    the user owning an access key; `user_tags(name)` an existing user's tags,
    which requests on the user carry as `aws:ResourceTag/<key>`."""

    def user_arn(name: str) -> str:
        path = user_path(name) or "/"
        return f"arn:{PARTITION}:iam::{account}:user{path}{name}"

    full = f"iam:{action}"
    if action in STAR_ACTIONS:
        return [Check(full, "*")]
    if action == "ListServiceSpecificCredentials" and params.get("AllUsers", "").lower() == "true":
        # Every user's credentials: authorized on every user of the account.
        return [Check(full, f"arn:{PARTITION}:iam::{account}:user/*")]
    if action in USER_ACTIONS or action in USER_POLICY_ARN_ACTIONS:
        name = params.get("UserName") or caller_user
        if not name:
            raise Unsupported(f"{action} without UserName from a principal that is not a user")
        context: dict[str, list[str]] = {
            f"aws:resourcetag/{key.lower()}": [value] for key, value in user_tags(name).items()
        }
        if action in USER_POLICY_ARN_ACTIONS:
            context["iam:policyarn"] = [params.get("PolicyArn", "")]
        checks = [Check(full, user_arn(name), context)]
        if action in ("TagUser", "CreateUser") and _tag_keys(params):
            checks[0].context["aws:tagkeys"] = _tag_keys(params)
        if action == "UntagUser":
            keys = []
            while f"TagKeys.member.{len(keys) + 1}" in params:
                keys.append(params[f"TagKeys.member.{len(keys) + 1}"])
            checks[0].context["aws:tagkeys"] = keys
        return checks
    if action == "CreateRole":
        path = params.get("Path") or "/"
        checks = [Check(full, f"arn:{PARTITION}:iam::{account}:role{path}{params.get('RoleName', '')}")]
        if _tag_keys(params):
            checks[0].context["aws:tagkeys"] = _tag_keys(params)
        return checks
    if action in ROLE_ACTIONS:
        name = params.get("RoleName", "")
        path = role_path(name) or "/"
        context = {}
        if action in ("AttachRolePolicy", "DetachRolePolicy"):
            context["iam:policyarn"] = [params.get("PolicyArn", "")]
        return [Check(full, f"arn:{PARTITION}:iam::{account}:role{path}{name}", context)]
    if action == "GetAccessKeyLastUsed":
        owner = key_owner(params.get("AccessKeyId", ""))
        # IAM authorizes on the key's owner; an unknown key fails later anyway.
        resource = user_arn(owner) if owner else f"arn:{PARTITION}:iam::{account}:user/*"
        return [Check(full, resource)]
    if action == "GenerateServiceLastAccessedDetails":
        return [Check(full, params.get("Arn", ""))]
    if action in POLICY_ACTIONS:
        return [Check(full, params.get("PolicyArn", ""))]
    if action == "CreatePolicy":
        path = params.get("Path") or "/"
        arn = f"arn:{PARTITION}:iam::{account}:policy{path}{params.get('PolicyName', '')}"
        checks = [Check(full, arn)]
        tag_keys = _tag_keys(params)
        if tag_keys:
            # Tagging on create needs iam:TagPolicy on the new policy too.
            checks[0].context["aws:tagkeys"] = tag_keys
            checks.append(Check("iam:TagPolicy", arn, {"aws:tagkeys": tag_keys}))
        return checks
    raise Unsupported(f"no authorization rule for iam:{action}")


def denial_message(principal_arn: str, decision: Decision) -> str:
    check = decision.check
    why = {
        "explicit deny": "with an explicit deny in an identity-based policy",
        "scp deny": "with an explicit deny in a service control policy",
    }.get(decision.reason, f"because no identity-based policy allows the {check.action} action")
    return (f"User: {principal_arn} is not authorized to perform: {check.action} "
            f"on resource: {check.resource} {why}")
