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

Policy variables (`${aws:PrincipalAccount}`, `${aws:PrincipalTag/team}`, with
an optional default `${key, 'default'}`) are replaced with the request's value of
that key (key names ignore case) in Resource/NotResource and in the values of the
string and ARN condition operators, in documents of Version 2012-10-17 (older
documents read them as literal text, as IAM does). `${*}`, `${?}` and `${$}`
stand for a literal `*`, `?` and `$`. A variable whose key is absent from the
request (and has no default) resolves to nothing: the Resource entry or the
condition value it is in matches no request value. That is what the IAM User
Guide says ("IAM policy elements: Variables and tags": a key that is not present
"is not in the current request information, and any attempt to match it fails";
"If AWS cannot resolve a variable, this might cause the entire statement to be
invalid"); note that it makes a NotResource entry exclude nothing and a negated
operator (StringNotEquals) hold.

Resource-based policies (a bucket policy) are evaluated by
`evaluate_resource_policy`, with the statement's Principal matched against the
calling principal; combining them with identity-based policies and SCPs
(explicit deny wins; same account: either allows; cross-account: both must) is
the caller's job (`combine`).

A KMS key policy is evaluated by `evaluate_key_policy` and combined by
`kms_decision`, with KMS's own rules: the key policy is required, and a key
policy statement naming an account (rather than the caller) only lets that
account's identity-based policies grant, in the key's account as across
accounts. `s3_kms_check` is the check S3 makes on a caller's behalf when it
writes or reads an SSE-KMS object. Grants are not modelled.

Anything this module does not model (an action without a rule, a condition
operator, a variable with a multivalued key, NotPrincipal) raises Unsupported:
the emulator answers 500 rather than guess an answer in either direction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import unquote

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


_WILDCARD_CACHE: dict[tuple[Any, bool], re.Pattern[str]] = {}

# `${key}` or `${key, 'default'}`; IAM substitutes once, left to right.
_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT_RE = re.compile(r"^\s*([^,]*?)\s*,\s*'((?:[^']|'')*)'\s*$")
# The predefined variables that stand for a character otherwise special.
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# A pattern after substitution: (text, literal) segments. Literal text (a
# substituted value or an escape) never acts as a wildcard.
Segments = tuple[tuple[str, bool], ...]


def resolve(pattern: str, context: dict[str, list[str]] | None,
            variables: bool = True) -> Segments | None:
    """`pattern` with its policy variables replaced from `context`, or None if one
    of them has no value in the request (then the pattern matches nothing)."""
    if not variables or "${" not in pattern:
        return ((pattern, False),)
    if context is None:
        raise Unsupported(f"policy variables are not modelled here: {pattern!r}")
    segments: list[tuple[str, bool]] = []
    last = 0
    for match in _VARIABLE_RE.finditer(pattern):
        if match.start() > last:
            segments.append((pattern[last:match.start()], False))
        last = match.end()
        inner = match.group(1)
        if inner in _ESCAPES:
            segments.append((_ESCAPES[inner], True))
            continue
        default = None
        with_default = _DEFAULT_RE.match(inner)
        if with_default:
            inner, default = with_default.group(1), with_default.group(2).replace("''", "'")
        key = inner.strip().lower()
        if not key or any(c.isspace() for c in key):
            raise Unsupported(f"policy variable not modelled: {match.group(0)!r}")
        values = context.get(key)
        if values is not None and len(values) > 1:
            raise Unsupported(f"a multivalued key cannot be a policy variable: {match.group(0)!r}")
        if values:
            segments.append((values[0], True))
        elif default is not None:
            segments.append((default, True))
        else:
            return None
    if last < len(pattern):
        segments.append((pattern[last:], False))
    return tuple(segments)


def _text(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


def _compiled(segments: Segments, ignore_case: bool) -> re.Pattern[str]:
    key = (segments, ignore_case)
    compiled = _WILDCARD_CACHE.get(key)
    if compiled is None:
        parts = []
        for text, literal in segments:
            if literal:
                parts.append(re.escape(text))
            else:
                parts.extend(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        regex = "".join(parts)
        compiled = re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        _WILDCARD_CACHE[key] = compiled
    return compiled


def wildcard_match(pattern: str, value: str, ignore_case: bool,
                   context: dict[str, list[str]] | None = None, variables: bool = True) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character), after policy
    variables are replaced from `context` (a variable without a value: no match)."""
    segments = resolve(pattern, context, variables)
    if segments is None:
        return False
    return _compiled(segments, ignore_case).match(value) is not None


def _string_equals(expected: Segments, actual: str) -> bool:
    return _text(expected) == actual


def _string_equals_ic(expected: Segments, actual: str) -> bool:
    return _text(expected).lower() == actual.lower()


def _like(expected: Segments, actual: str) -> bool:
    return _compiled(expected, ignore_case=False).match(actual) is not None


def _bool(expected: Segments, actual: str) -> bool:
    return _text(expected).lower() == actual.lower()


# Operator -> (comparison, negated).
OPERATORS: dict[str, tuple[Callable[[Segments, str], bool], bool]] = {
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

# The operators whose values may hold policy variables (IAM: string and ARN ones).
VARIABLE_OPERATORS = {op for op in OPERATORS if op.startswith(("String", "Arn"))}


def condition_holds(block: Any, context: dict[str, list[str]], variables: bool = True) -> bool:
    """Every operator, every key: AND. The values of one key: OR. A policy value
    whose variable has no value in the request matches no request value."""
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
            raw = [str(v) for v in as_list(expected_raw)]
            actual = context.get(key.lower())
            if base not in VARIABLE_OPERATORS and variables and any("${" in v for v in raw):
                raise Unsupported(f"policy variables are not allowed with {operator}: {raw!r}")
            expected = [seg for seg in (resolve(v, context, variables) for v in raw)
                        if seg is not None]
            if base == "Null":
                # "true": the key must be absent; "false": present.
                want_absent = raw[0].lower() == "true"
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
                    ignore_case: bool, context: dict[str, list[str]] | None = None,
                    variables: bool = True) -> bool:
    """Whether `element` (Action or Resource) or its Not- form admits `value`.
    Policy variables are replaced from `context` (Resource only; an entry whose
    variable has no value matches nothing)."""
    if element in statement:
        return any(wildcard_match(p, value, ignore_case, context, variables)
                   for p in as_list(statement[element]))
    if f"Not{element}" in statement:
        return not any(wildcard_match(p, value, ignore_case, context, variables)
                       for p in as_list(statement[f"Not{element}"]))
    raise Unsupported(f"statement without {element} or Not{element}: {statement!r}")


def uses_variables(document: dict[str, Any]) -> bool:
    """Policy variables exist in policy language 2012-10-17; before it (or with no
    Version), `${...}` is literal text."""
    return document.get("Version") == "2012-10-17"


def statement_applies(statement: dict[str, Any], check: Check, variables: bool = True) -> bool:
    if not element_matches(statement, "Action", check.action, ignore_case=True):
        return False
    if not element_matches(statement, "Resource", check.resource, ignore_case=False,
                           context=check.context, variables=variables):
        return False
    if "Condition" in statement:
        return condition_holds(statement["Condition"], check.context, variables)
    return True


def denied_by_scps(scps: list[dict[str, Any]], check: Check) -> bool:
    """Whether a service control policy explicitly denies the check. The Allow side
    of SCPs is taken as FullAWSAccess (the default attachment); only denies are read."""
    for document in scps:
        for statement in as_list(document.get("Statement", [])):
            if statement.get("Effect") == "Deny" and statement_applies(
                    statement, check, uses_variables(document)):
                return True
    return False


def evaluate(documents: list[dict[str, Any]], check: Check) -> Decision:
    allowed = False
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            if not isinstance(statement, dict):
                raise Unsupported(f"statement must be an object: {statement!r}")
            if not statement_applies(statement, check, uses_variables(document)):
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
# Resource-based policies (an S3 bucket policy)
# --------------------------------------------------------------------------

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ROOT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")


@dataclass
class Principal:
    """Who makes the request, as a resource-based policy's Principal sees it."""

    account: str
    # aws:PrincipalArn: the role's ARN for a role session, the user's for a user.
    arn: str
    # The session's own ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>).
    session_arn: str


# How a statement's Principal names the caller (`principal_kind`).
NAMES_CALLER = "caller"
NAMES_ACCOUNT = "account"


def _aws_principal_kind(value: str, principal: Principal) -> str | None:
    if value == "*":
        return NAMES_CALLER
    if "*" in value or "?" in value:
        raise Unsupported(f"a wildcard in Principal other than \"*\" is not modelled: {value!r}")
    if ACCOUNT_ID_RE.match(value):
        # An account stands for every principal of that account (the account
        # then decides with its identity-based policies).
        return NAMES_ACCOUNT if value == principal.account else None
    root = ROOT_ARN_RE.match(value)
    if root:
        return NAMES_ACCOUNT if root.group(1) == principal.account else None
    # A role's ARN matches the sessions of that role; a session's ARN that session;
    # a user's ARN that user.
    return NAMES_CALLER if value in (principal.arn, principal.session_arn) else None


def _principal_kinds(value: Any, principal: Principal) -> Iterator[str | None]:
    """How each entry of a statement's Principal names the caller, lazily (an entry
    that cannot be evaluated raises Unsupported only when reached)."""
    if value == "*":
        yield NAMES_CALLER
        return
    if not isinstance(value, dict):
        raise Unsupported(f"Principal must be \"*\" or an object, got {value!r}")
    for kind, ids in value.items():
        if kind == "AWS":
            for v in as_list(ids):
                yield _aws_principal_kind(str(v), principal)
        elif kind in ("Service", "Federated"):
            continue
        else:
            raise Unsupported(f"Principal of kind {kind!r} is not modelled")


def principal_matches(value: Any, principal: Principal) -> bool:
    """Whether a statement's Principal names the caller: "*", {"AWS": "*"}, an
    account (12 digits or its root ARN), a role, session or user ARN. A service
    or federated principal never names a role session."""
    return any(kind is not None for kind in _principal_kinds(value, principal))


def principal_kind(value: Any, principal: Principal) -> str | None:
    """How a statement's Principal names the caller: NAMES_CALLER when it names the
    caller itself ("*", {"AWS": "*"}, its role, session or user ARN), else
    NAMES_ACCOUNT when it names the caller's account (12 digits or its root ARN),
    else None. Every entry is read unless one names the caller."""
    found = None
    for kind in _principal_kinds(value, principal):
        if kind == NAMES_CALLER:
            return kind
        found = kind or found
    return found


def _principal_statements(document: dict[str, Any], what: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The statements of a policy with a Principal (a resource-based or key policy), each
    with its Effect; anything not modelled (NotPrincipal, no Principal, another Effect)
    raises Unsupported. `what` names the policy's kind in messages."""
    for statement in as_list(document.get("Statement", [])):
        if not isinstance(statement, dict):
            raise Unsupported(f"statement must be an object: {statement!r}")
        if "NotPrincipal" in statement:
            raise Unsupported("NotPrincipal is not modelled")
        if "Principal" not in statement:
            raise Unsupported(f"{what} statement without Principal: {statement!r}")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise Unsupported(f"Effect must be Allow or Deny, got {effect!r}")
        yield statement, effect


def evaluate_resource_policy(document: dict[str, Any], check: Check,
                             principal: Principal) -> Decision:
    """A resource-based policy's answer for one check, alone: "explicit deny",
    "allow" or "implicit deny". A statement applies when its Principal names the
    caller and its Action, Resource and Condition apply as in an identity-based
    policy."""
    variables = uses_variables(document)
    allowed = False
    for statement, effect in _principal_statements(document, "resource-based"):
        if not principal_matches(statement["Principal"], principal):
            continue
        if not statement_applies(statement, check, variables):
            continue
        if effect == "Deny":
            return Decision(False, "explicit deny", check)
        allowed = True
    return Decision(allowed, "allow" if allowed else "implicit deny", check)


def combine(identity: Decision, resource: Decision | None, same_account: bool) -> Decision:
    """IAM's decision from the caller's identity-based policies (SCP denies already
    applied) and the resource's policy (None: the resource has none): an explicit
    deny in either wins; in the resource owner's account an allow in either
    suffices; across accounts both must allow."""
    check = identity.check
    if identity.reason in ("explicit deny", "scp deny"):
        return identity
    if resource is not None and resource.reason == "explicit deny":
        return Decision(False, "resource explicit deny", check)
    resource_allows = resource is not None and resource.allowed
    if same_account:
        if identity.allowed or resource_allows:
            return Decision(True, "allow", check)
        return Decision(False, "implicit deny", check)
    if not identity.allowed:
        return Decision(False, "implicit deny", check)
    if not resource_allows:
        return Decision(False, "resource implicit deny", check)
    return Decision(True, "allow", check)


# --------------------------------------------------------------------------
# KMS key policies (AWS KMS Developer Guide, "Determining access to an AWS KMS
# key" and "Allowing users in other accounts to use a KMS key")
# --------------------------------------------------------------------------

# A key policy's answer when only statements naming the caller's account allow:
# the key policy lets that account's IAM policies grant, it grants nothing itself.
ACCOUNT_ALLOW = "account allow"


def evaluate_key_policy(document: dict[str, Any], check: Check,
                        principal: Principal) -> Decision:
    """A KMS key policy's answer for one check, alone: "explicit deny" (a Deny
    statement applies to the caller, named or through its account), "allow" (an
    Allow statement naming the caller itself, or "*", applies), ACCOUNT_ALLOW (only
    Allow statements naming the caller's account apply) or "implicit deny"."""
    variables = uses_variables(document)
    answer = "implicit deny"
    for statement, effect in _principal_statements(document, "key policy"):
        named = principal_kind(statement["Principal"], principal)
        if named is None or not statement_applies(statement, check, variables):
            continue
        if effect == "Deny":
            return Decision(False, "explicit deny", check)
        if named == NAMES_CALLER:
            answer = "allow"
        elif answer != "allow":
            answer = ACCOUNT_ALLOW
    return Decision(answer == "allow", answer, check)


def kms_decision(identity: Decision, key_policy: Decision, same_account: bool,
                 has_grants: bool = False) -> Decision:
    """KMS's decision from the caller's identity-based policies (SCP denies already
    applied) and the key policy (`evaluate_key_policy`). An explicit deny in either
    wins. The key policy is required: in the key's account, a statement naming the
    caller allows by itself, one naming only the account allows if an identity-based
    policy does too; across accounts, the key policy must allow (the caller or its
    account) and an identity-based policy too. Unlike `combine`, an account
    principal in a same-account key policy allows nothing by itself.

    Grants are not modelled: a key with grants (`has_grants`), which might allow
    what the policies do not, raises Unsupported rather than deny implicitly."""
    check = identity.check
    if identity.reason in ("explicit deny", "scp deny"):
        return identity
    if key_policy.reason == "explicit deny":
        return Decision(False, "resource explicit deny", check)
    if key_policy.reason == "implicit deny":
        decision = Decision(False, "resource implicit deny", check)
    elif same_account and key_policy.reason == "allow":
        decision = Decision(True, "allow", check)
    elif not identity.allowed:
        decision = Decision(False, "implicit deny", check)
    else:
        decision = Decision(True, "allow", check)
    if not decision.allowed and has_grants:
        raise Unsupported(f"{check.resource} has grants, which are not modelled")
    return decision


# --------------------------------------------------------------------------
# What each S3 request is authorized on (Service Authorization Reference,
# "Actions, resources, and condition keys for Amazon S3")
# --------------------------------------------------------------------------


def s3_checks(method: str, bucket: str, key: str,
              query: dict[str, str], headers: dict[str, str]) -> list[Check]:
    """The checks S3 makes for one request on `bucket` (and object `key`), for the
    operations the emulator models; any other raises Unsupported. `query` holds the
    query parameters, `headers` the lower-cased request headers."""
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    subresources = set(query) - {"versionId", "prefix", "delimiter", "max-keys", "marker",
                                 "list-type", "continuation-token", "start-after",
                                 "encoding-type", "fetch-owner", "uploadId", "partNumber",
                                 "x-id"}
    if not bucket:
        if method == "GET" and not subresources:
            return [Check("s3:ListAllMyBuckets", "*")]
        raise Unsupported(f"S3 {method} / {sorted(query)} is not modelled")
    if not key:
        if method in ("GET", "HEAD") and not subresources:
            # ListObjects, ListObjectsV2 and HeadBucket are all s3:ListBucket.
            context = {}
            for param in ("prefix", "delimiter", "max-keys"):
                if param in query:
                    context[f"s3:{param}"] = [query[param]]
            return [Check("s3:ListBucket", bucket_arn, context)]
        if method == "GET" and subresources == {"versions"}:
            context = {"s3:prefix": [query["prefix"]]} if "prefix" in query else {}
            return [Check("s3:ListBucketVersions", bucket_arn, context)]
        if method == "GET" and subresources == {"location"}:
            return [Check("s3:GetBucketLocation", bucket_arn)]
        if subresources == {"policy"} and method in ("GET", "PUT", "DELETE"):
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}[method]
            return [Check(f"s3:{verb}BucketPolicy", bucket_arn)]
        if method == "PUT" and not subresources:
            return [Check("s3:CreateBucket", bucket_arn)]
        if method == "DELETE" and not subresources:
            return [Check("s3:DeleteBucket", bucket_arn)]
        raise Unsupported(f"S3 {method} on a bucket with {sorted(subresources)} is not modelled")
    versioned = "versionId" in query
    if method in ("GET", "HEAD") and not subresources:
        return [Check("s3:GetObjectVersion" if versioned else "s3:GetObject", object_arn)]
    if method == "PUT" and not subresources:
        # PutObject, and UploadPart (uploadId, partNumber) is authorized as PutObject.
        checks = [Check("s3:PutObject", object_arn)]
        source = headers.get("x-amz-copy-source")
        if source:
            # CopyObject / UploadPartCopy also read the source.
            source_path, _, source_query = unquote(source).lstrip("/").partition("?")
            action = "s3:GetObjectVersion" if "versionId=" in source_query else "s3:GetObject"
            checks.append(Check(action, f"arn:{PARTITION}:s3:::{source_path}"))
        return checks
    if method == "POST" and subresources <= {"uploads"} and ("uploads" in query or "uploadId" in query):
        # CreateMultipartUpload and CompleteMultipartUpload.
        return [Check("s3:PutObject", object_arn)]
    if method == "DELETE" and not subresources:
        if "uploadId" in query:
            return [Check("s3:AbortMultipartUpload", object_arn)]
        return [Check("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", object_arn)]
    raise Unsupported(f"S3 {method} on an object with {sorted(subresources)} is not modelled")


def s3_kms_check(action: str, key_arn: str, bucket_region: str, caller_account: str,
                 bucket: str, key: str, bucket_key: bool) -> Check:
    """The KMS check S3 makes on the caller's behalf (a forward access session) for
    an SSE-KMS object: kms:GenerateDataKey to write it, kms:Decrypt to read it, on
    `key_arn`. Its encryption context (aws:s3:arn) is the bucket's ARN when the
    object uses an S3 Bucket Key, else the object's."""
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    return Check(action, key_arn, {
        "kms:viaservice": [f"s3.{bucket_region}.amazonaws.com"],
        "kms:calleraccount": [caller_account],
        "kms:encryptioncontext:aws:s3:arn": [bucket_arn if bucket_key else f"{bucket_arn}/{key}"],
        "kms:encryptioncontextkeys": ["aws:s3:arn"],
        "aws:viaawsservice": ["true"],
    })


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
        "resource explicit deny": "with an explicit deny in a resource-based policy",
        "resource implicit deny": f"because no resource-based policy allows the {check.action} action",
    }.get(decision.reason, f"because no identity-based policy allows the {check.action} action")
    return (f"User: {principal_arn} is not authorized to perform: {check.action} "
            f"on resource: {check.resource} {why}")
