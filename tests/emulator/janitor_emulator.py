#!/usr/bin/env python3
"""IAM emulator for the iam-janitor end-to-end tests.

Runs moto's AWS emulator (server mode) on 127.0.0.1 behind a small WSGI
middleware that adds what the tests need and moto lacks:

* a JSON control API under ``/_janitor/`` to reset state, seed thousands of
  users quickly, back-date credentials, inject faults and latency, and read
  per-action call counts;
* a credential report in the format real AWS produces (root row first,
  ``N/A`` / ``no_information`` markers, last-used region and service, ...),
  live by default or frozen on request like IAM's cached reports;
* IAM Access Advisor (``GenerateServiceLastAccessedDetails`` /
  ``GetServiceLastAccessedDetails``), with per-user data set through the
  control API;
* counting, latency and fault injection for every IAM call: scripted faults
  (this action, this user, N times) and chaos (a seeded fraction of calls
  throttled, answered 5xx, or dropped without an answer before or after the
  request took effect);
* authorization of IAM requests like IAM's (resources and condition keys) for
  role sessions created through the control API (iam_authz.py);
* authorization of those sessions' S3 requests like S3's: the object and bucket
  operations iam_authz.s3_checks models, against the session's SCPs and
  identity-based policies and the bucket's policy (policy variables included),
  same-account and cross-account rules apart; a session's other S3 requests are
  denied; S3 calls counted by operation;
* SSE-KMS for those sessions, once S3 allows the request: a PutObject or
  CreateMultipartUpload that encrypts with a KMS key (the request's
  x-amz-server-side-encryption headers, else the bucket's default encryption)
  needs kms:GenerateDataKey on it, a GetObject of an object moto recorded as
  SSE-KMS kms:Decrypt (HeadObject decrypts nothing), authorized as KMS authorizes
  S3's forward access session: kms:ViaService, kms:CallerAccount,
  kms:EncryptionContext:aws:s3:arn (the bucket's ARN with an S3 Bucket Key, else
  the object's), against the session's SCPs and identity-based policies and the
  key policy, with KMS's rules (iam_authz.kms_decision), on every request (real S3
  may reuse a Bucket Key without asking KMS again). The key must exist in the
  bucket's Region (else 400 KMS.NotFoundException; a key ID that is not an ARN
  names the requester's key, as in S3) and be enabled (400
  KMS.DisabledException, KMS.KMSInvalidStateException). Denied as not modelled:
  multipart upload parts and copies involving SSE-KMS, DSSE-KMS, the AWS managed
  key aws/s3, keys named by alias, reads of objects whose key moto recorded by ID
  rather than ARN; a key with grants is answered 500 when the policies alone
  would deny. A CloudFormation bucket keeps its BucketKeyEnabled (moto 5.2.5
  drops it), and a key made without KeyUsage is ENCRYPT_DECRYPT (moto records none);
* ListUsers paging (MaxItems / Marker) like real IAM; moto returns all users;
* service-specific credentials (CodeCommit Git credentials, Keyspaces, Bedrock
  API keys; moto has none): List (per user, or AllUsers per service, paged),
  Create, Update, Delete;
* user tags as IAM keeps them: at most 50 per user (TagUser beyond that is
  LimitExceeded; moto counts only the tags in one request), and keys
  unique ignoring case (a TagUser key replaces a tag whose key differs only
  in case);
* the policy quota and PasswordResetRequired apply to the caller's account
  (credentials from sts:AssumeRole into a member account included), the one
  moto acts on;
* service-managed StackSets as CloudFormation keeps them: DescribeStackSet
  shows ``AutoDeployment``, ``ManagedExecution`` and the
  ``OrganizationalUnitIds`` instances were created for, and
  DeleteStackInstances honours ``DeploymentTargets.OrganizationalUnitIds``
  (moto 5.2.5 forgets the first three and reads only ``Accounts``).

Control API (JSON in and out; bad input -> 400 {"error": "..."}; optional
``?account=<12 digits>``, default 123456789012):

    GET    /_janitor/health                      {"ok": true}
    POST   /_janitor/reset                       forget all moto and emulator state
    POST   /_janitor/seed                        {"users": [...]} -> {"users": [{name, arn, access_key_ids, certificate_ids, service_credential_ids, ssh_key_ids}]}
                                                 (a user: name, path, tags, create_date, password, keys,
                                                 certificates [{upload_date, status}],
                                                 service_credentials [{service, create_date, status}],
                                                 ssh_keys [{upload_date, status}], managed_policy_arns)
    POST   /_janitor/users/<name>                {create_date, password_last_used, password_last_changed}
    POST   /_janitor/access-keys/<key id>        {create_date, last_used, last_used_service, last_used_region}
    POST   /_janitor/faults                      {action, count, code, status, message, user?}
    DELETE /_janitor/faults
    POST   /_janitor/latency                     {"ms": N}
    GET    /_janitor/calls                       {"calls": {Action: n}, "total": n, "throttled": {Action: n}, "dynamodb": {Operation: n}, "s3": {Operation: n}}
    POST   /_janitor/calls/reset
    POST   /_janitor/access-advisor/<user>       {"services": [{namespace, name, last_authenticated}]}
    POST   /_janitor/access-advisor-fail/<user>  {code?, message?}  (DELETE undoes it)
    POST   /_janitor/access-advisor-page-cap     {"max": N}: pages hold at most N services (0: MaxItems)
    POST   /_janitor/access-advisor-job-duration {"seconds": S}: jobs stay IN_PROGRESS for S seconds (real ones take seconds)
    POST   /_janitor/request-rate                {per_second, burst?}: the account's IAM requests above this rate are answered Throttling (DELETE lifts it)
    POST   /_janitor/policies-quota              {"max": N}: the account's customer managed policy quota (default 1500), enforced on CreatePolicy
    POST   /_janitor/credential-report/freeze    -> {"generated_time"}  (DELETE unfreezes)
    POST   /_janitor/sessions                    {role?, path?, user?, policies: [doc], scps?: [doc]} -> {access_key_id, secret_access_key, session_token, arn}
                                                 IAM requests signed with these credentials are authorized against
                                                 exactly those policies (iam_authz.py); any other key acts as root;
                                                 with user, they stand for that user's own (its ARN, its current
                                                 tags as aws:PrincipalTag); their S3 requests are authorized
                                                 with the bucket's policy too (aws:PrincipalAccount,
                                                 aws:PrincipalOrgID from the account's organization,
                                                 aws:SecureTransport)
    POST   /_janitor/s3                          {"secure_transport": bool}: whether sessions' S3 requests count as
                                                 sent over TLS (aws:SecureTransport; default true, as real SDK
                                                 clients use HTTPS although the tests speak HTTP to loopback)
    POST   /_janitor/authorize                   {access_key_id, action, resource, context?} -> {allowed, reason, message}
                                                 IAM's decision for a session's request of a service the emulator
                                                 does not authorize itself (iam:PassRole, Lambda, EventBridge, Logs)
    POST   /_janitor/chaos                       {seed, fraction, kinds: [throttle|5xx|drop-before|drop-after], actions?, access_key?}
                                                 a seeded fraction of IAM requests fails (DELETE stops it;
                                                 GET -> {"injected": {kind: n}})

In patches an absent field is left unchanged and null clears it.

Usage::

    python janitor_emulator.py --port 0

Once bound it prints exactly one line, ``LISTENING 127.0.0.1:<port>``, to
stdout and serves until killed. Only the standard library, moto and werkzeug
are used. See the Rust harness (tests/src/lib.rs) for the client side.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from werkzeug.serving import make_server

from moto.cloudformation.models import StackSet
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.iam.access_control import PermissionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.exceptions import LimitExceededException, ReportNotPresentException
from moto.iam.models import (AccessKeyLastUsed, AWSManagedPolicy, IAMBackend, SigningCertificate,
                             SshPublicKey, User)
from moto.iam.models import get_account_id_from, iam_backends
from moto.iam.responses import IamResponse
from moto.kms.models import KmsBackend, kms_backends
from moto.moto_api import _internal as moto_api_internal
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.organizations.models import organizations_backends
from moto.s3 import models as s3_models
from moto.s3.models import FakeBucket, FakeKey, s3_backends
from moto.s3.responses import S3Response
from moto.s3.utils import bucket_name_from_url as host_bucket_name
from moto.sts.models import sts_backends

import iam_authz

DEFAULT_ACCOUNT_ID = "123456789012"
IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
PARTITION = "aws"
REGION = "us-east-1"
# Creation time reported for the root user of every emulated account.
ACCOUNT_CREATION_TIME = datetime(2015, 1, 1, 0, 0, 0)
CONTROL_PREFIX = "/_janitor/"
# Characters of emulated credential IDs (IAM's are upper-case letters and digits).
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# IAM quota: tags per user.
USER_TAG_QUOTA = 50

# `Credential=<key>/<date>/<region>/<service>/aws4_request` in a SigV4
# Authorization header.
CREDENTIAL_SCOPE_RE = re.compile(
    r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request"
)
ACCOUNT_RE = re.compile(r"^\d{12}$")
USER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):user(/.*)?/([^/]+)$")
ENTITY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(role|group|policy)/.+$")

CSV_HEADER = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
]


# --------------------------------------------------------------------------
# Time helpers. moto stores naive datetimes that mean UTC; so do we.
# --------------------------------------------------------------------------


def to_naive_utc(dt: datetime) -> datetime:
    """Convert any datetime to the naive-UTC form moto uses."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def fmt_csv_time(dt: datetime) -> str:
    """Credential-report timestamp, e.g. ``2026-11-21T10:14:20+00:00``."""
    return to_naive_utc(dt).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def fmt_xml_time(dt: datetime) -> str:
    """IAM query-protocol timestamp, e.g. ``2026-11-21T10:14:20Z``."""
    return to_naive_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


class ControlError(Exception):
    """A bad control-API request; answered with HTTP 400 {"error": ...}."""


def parse_time(value: Any, what: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp (naive means UTC)."""
    if not isinstance(value, str):
        raise ControlError(f"{what}: expected an ISO 8601 timestamp, got {value!r}")
    try:
        return to_naive_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ControlError(f"{what}: invalid ISO 8601 timestamp {value!r}") from None


def parse_optional_time(value: Any, what: str) -> datetime | None:
    return None if value is None else parse_time(value, what)


def expect_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ControlError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def expect_int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ControlError(f"{what}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


def expect_obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError(f"{what}: expected a JSON object, got {value!r}")
    return value


def expect_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ControlError(f"{what}: expected a JSON array, got {value!r}")
    return value


# --------------------------------------------------------------------------
# Emulator state (everything that is not moto's). Guarded by STATE.lock.
# --------------------------------------------------------------------------


@dataclass
class FaultRule:
    action: str
    remaining: int
    code: str
    status: int
    message: str
    user: str | None


@dataclass
class AdvisorJob:
    account: str
    arn: str
    granularity: str
    created: datetime
    # Snapshot of the entity's services at generation time.
    services: list[dict[str, Any]]
    failure: tuple[str, str] | None
    polls: int = 0
    completed: datetime | None = None


CHAOS_KINDS = ("throttle", "5xx", "drop-before", "drop-after")


@dataclass
class Chaos:
    seed: int
    fraction: float
    kinds: list[str]
    # Only these IAM actions (all when empty).
    actions: set[str]
    # Only requests signed with this access key ID (all when empty).
    access_key: str
    # How often each request (by content) was seen: the n-th sight of the same
    # request draws anew, so a retried call can succeed.
    seen: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)

    def draw(self, access_key: str, action: str, params: dict[str, str]) -> str | None:
        """The fault for this request, if any: a function of the seed, the
        request's content and how many times it was seen, so a run sees the same
        faults whatever the order its concurrent calls arrive in."""
        if self.actions and action not in self.actions:
            return None
        if self.access_key and access_key != self.access_key:
            return None
        content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "Version")
        n = self.seen[content] = self.seen.get(content, 0) + 1
        digest = hashlib.sha256(f"{self.seed}|{content}|{n}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2.0**64 >= self.fraction:
            return None
        kind = self.kinds[int.from_bytes(digest[8:12], "big") % len(self.kinds)]
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind


@dataclass
class RateLimit:
    """IAM's request-rate throttling of one account: a token bucket refilled at
    `per_second`, holding at most `burst`; a request finding it empty is answered
    Throttling. AWS publishes no per-account rate; tests choose one."""
    per_second: float
    burst: float
    tokens: float
    last: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Session:
    account: str
    # arn:aws:sts::<account>:assumed-role/<role>/<session>
    arn: str
    # The identity-based policy documents the session carries.
    policies: list[dict[str, Any]]
    # Service control policies over the session's account (deny statements).
    scps: list[dict[str, Any]] = field(default_factory=list)
    # aws:PrincipalArn: the role's ARN (not the session's), or the user's.
    role_arn: str = ""
    # Set when the session stands for an IAM user's own credentials: requests then
    # carry the user's current tags as aws:PrincipalTag/<key>, as IAM's do.
    user: str | None = None


@dataclass
class State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, int] = field(default_factory=dict)
    faults: list[FaultRule] = field(default_factory=list)
    latency_ms: int = 0
    # (account, user name) -> list of service dicts
    advisor: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (account, user name) -> (error code, error message)
    advisor_fail: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    jobs: dict[str, AdvisorJob] = field(default_factory=dict)
    # Real IAM may return fewer than MaxItems while IsTruncated is true: when
    # set, Access Advisor pages hold at most this many services.
    advisor_page_cap: int = 0
    # IAM's customer managed policies per account (PoliciesQuota): moto
    # reports 1,500 but does not enforce it; the emulator does.
    policies_quota: int = 1500
    # Sessions whose IAM requests are authorized against their policies
    # (iam_authz); requests signed with any other key act as the account root.
    sessions: dict[str, "Session"] = field(default_factory=dict)
    chaos: Chaos | None = None
    # Real Access Advisor jobs take seconds: a job stays IN_PROGRESS until this many
    # seconds after it was generated (and for at least one poll).
    advisor_job_seconds: float = 0.0
    # account -> its IAM request-rate limit; requests above it are throttled.
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    # IAM requests answered Throttling by the rate limit, by action.
    throttled: dict[str, int] = field(default_factory=dict)
    # DynamoDB requests (the engine's state table), by operation.
    dynamodb_calls: dict[str, int] = field(default_factory=dict)
    # S3 requests, by operation.
    s3_calls: dict[str, int] = field(default_factory=dict)
    # aws:SecureTransport of sessions' S3 requests: real SDK clients use TLS.
    s3_secure_transport: bool = True

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.faults.clear()
            self.latency_ms = 0
            self.advisor.clear()
            self.advisor_fail.clear()
            self.jobs.clear()
            self.advisor_page_cap = 0
            self.policies_quota = 1500
            self.sessions.clear()
            self.chaos = None
            self.advisor_job_seconds = 0.0
            self.rate_limits.clear()
            self.throttled.clear()
            self.dynamodb_calls.clear()
            self.s3_calls.clear()
            self.s3_secure_transport = True


STATE = State()
# moto's backends are not thread-safe (e.g. ListUsers iterating a dict that a
# concurrent CreateUser grows), so every IAM call and every control call that
# touches moto holds this lock. Latency is slept outside it.
MOTO_LOCK = threading.RLock()


def iam_backend(account: str) -> IAMBackend:
    return iam_backends[account][PARTITION]


# --------------------------------------------------------------------------
# moto patches: realistic credential report, login-profile timestamps, lazy
# AWS managed policies.
# --------------------------------------------------------------------------

_AWS_POLICY_DATA: dict[str, Any] | None = None


def ensure_aws_managed_policy(backend: IAMBackend, arn: str) -> None:
    """moto only loads AWS managed policies when configured to (slow);
    materialise the one an attachment refers to on demand instead."""
    global _AWS_POLICY_DATA
    if arn in backend.managed_policies or not arn.startswith("arn:aws:iam::aws:policy/"):
        return
    if _AWS_POLICY_DATA is None:
        _AWS_POLICY_DATA = json.loads(aws_managed_policies_data)
    name = arn.rsplit("/", 1)[-1]
    data = _AWS_POLICY_DATA.get(name)
    if data is None:
        return
    policy = AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
    if policy.arn == arn:
        backend.aws_managed_policies.append(policy)
        backend.managed_policies[policy.arn] = policy


def key_last_used(key: Any) -> tuple[datetime | None, str, str]:
    """(timestamp, region, service) of an access key's last use.

    moto's ``AccessKey.last_used`` is normally an ``AccessKeyLastUsed`` but
    users of moto may have set a bare datetime."""
    last = key.last_used
    if last is None:
        return None, "N/A", "N/A"
    if isinstance(last, datetime):
        return last, "N/A", "N/A"
    return last.timestamp, last.region or "N/A", last.service or "N/A"


def credential_report_rows(backend: IAMBackend) -> list[list[str]]:
    """The credential report as real AWS lays it out."""
    acct = backend.account_id
    rows = [
        CSV_HEADER,
        [
            "<root_account>",
            f"arn:{PARTITION}:iam::{acct}:root",
            fmt_csv_time(ACCOUNT_CREATION_TIME),
            "not_supported",
            "no_information",
            "not_supported",
            "not_supported",
            "false",
            "false", "N/A", "N/A", "N/A", "N/A",
            "false", "N/A", "N/A", "N/A", "N/A",
            "false", "N/A",
            "false", "N/A",
        ],
    ]
    for user in list(backend.users.values()):
        has_password = bool(user.password)
        if has_password:
            last_used = user.password_last_used
            password_last_used = fmt_csv_time(last_used) if last_used else "no_information"
            changed = getattr(user, "_janitor_password_last_changed", None)
            password_last_changed = fmt_csv_time(changed) if changed else "N/A"
        else:
            password_last_used = "N/A"
            password_last_changed = "N/A"
        row = [
            user.name,
            user.arn,
            fmt_csv_time(user.create_date),
            "true" if has_password else "false",
            password_last_used,
            password_last_changed,
            "N/A",
            "true" if user.mfa_devices else "false",
        ]
        # Key slots in creation order (a stable sort keeps moto's insertion
        # order for keys created in the same instant).
        keys = sorted(user.access_keys, key=lambda k: to_naive_utc(k.create_date))
        for slot in range(2):
            if slot < len(keys):
                key = keys[slot]
                used_at, region, service = key_last_used(key)
                row += [
                    "true" if key.status == "Active" else "false",
                    fmt_csv_time(key.create_date),
                    fmt_csv_time(used_at) if used_at else "N/A",
                    region if used_at else "N/A",
                    service if used_at else "N/A",
                ]
            else:
                row += ["false", "N/A", "N/A", "N/A", "N/A"]
        certs = sorted(user.signing_certificates.values(),
                       key=lambda c: to_naive_utc(c.upload_date))
        for slot in range(2):
            if slot < len(certs):
                cert = certs[slot]
                uploaded = getattr(cert, "upload_date", None)
                row += [
                    "true" if cert.status == "Active" else "false",
                    fmt_csv_time(uploaded) if isinstance(uploaded, datetime) else "N/A",
                ]
            else:
                row += ["false", "N/A"]
        rows.append(row)
    return rows


def render_credential_report(backend: IAMBackend) -> str:
    out = io.StringIO()
    # Real reports separate lines with \n and have no trailing newline.
    csv.writer(out, lineterminator="\n").writerows(credential_report_rows(backend))
    return out.getvalue().rstrip("\n")


def frozen_report(backend: IAMBackend) -> tuple[str, datetime] | None:
    """(CSV, generation time) of a frozen report, if the control API froze one."""
    return getattr(backend, "_janitor_frozen_report", None)


def install_moto_patches() -> None:
    """Monkeypatch moto's IAM backend and responses (class level, so they
    survive resets, which replace backend instances).

    Credential report: by default it is "live" (rendered on every
    GetCredentialReport, GeneratedTime = now), so tests see their changes at
    once. POST /_janitor/credential-report/freeze snapshots it the way real
    IAM does (one report served for hours while the account changes)."""

    def get_credential_report(self: IAMBackend) -> str:
        if not self.credential_report:
            raise ReportNotPresentException("Credential report not present")
        frozen = frozen_report(self)
        return frozen[0] if frozen else render_credential_report(self)

    original_create_lp = IAMBackend.create_login_profile
    original_update_lp = IAMBackend.update_login_profile

    def create_login_profile(self: IAMBackend, user_name: str, password: str) -> User:
        user = original_create_lp(self, user_name, password)
        now = utcnow()
        user._janitor_password_last_changed = now  # type: ignore[attr-defined]
        user._janitor_login_profile_created = now  # type: ignore[attr-defined]
        return user

    def update_login_profile(self: IAMBackend, user_name: str, password: str,
                             password_reset_required: bool) -> User:
        user = original_update_lp(self, user_name, password, password_reset_required)
        if password:
            user._janitor_password_last_changed = utcnow()  # type: ignore[attr-defined]
        return user

    original_attach = IAMBackend.attach_user_policy

    def attach_user_policy(self: IAMBackend, policy_arn: str, user_name: str) -> None:
        ensure_aws_managed_policy(self, policy_arn)
        original_attach(self, policy_arn, user_name)

    original_tag_user = IAMBackend.tag_user

    def tag_user(self: IAMBackend, name: str, tags: list[dict[str, str]]) -> None:
        user = self.get_user(name)
        current = self.tagger.list_tags_for_resource(user.arn)["Tags"]
        replaced = {t["Key"].lower() for t in tags}
        kept = [t for t in current if t["Key"].lower() not in replaced]
        if len(kept) + len(replaced) > USER_TAG_QUOTA:
            raise LimitExceededException(
                f"Cannot exceed quota for TagsPerUser: {USER_TAG_QUOTA}")
        variants = [t["Key"] for t in current if t["Key"].lower() in replaced]
        if variants:
            self.tagger.untag_resource_using_names(user.arn, variants)
        original_tag_user(self, name, tags)

    # moto checks a bucket's policy on object requests with neither the caller nor
    # any condition key, and a statement whose condition fails answers DENIED even
    # when its Effect is Allow: a policy like the reports bucket's then refuses every
    # caller. The emulator evaluates bucket policies itself for sessions (iam_authz);
    # requests signed with any other key act as root, unauthorized, as for IAM.
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL  # type: ignore[method-assign]

    IAMBackend.tag_user = tag_user  # type: ignore[method-assign]
    IAMBackend.get_credential_report = get_credential_report  # type: ignore[method-assign]
    IAMBackend.create_login_profile = create_login_profile  # type: ignore[method-assign]
    IAMBackend.update_login_profile = update_login_profile  # type: ignore[method-assign]
    IAMBackend.attach_user_policy = attach_user_policy  # type: ignore[method-assign]

    # Responses: a real GeneratedTime instead of moto's fixed 2015 one, and the
    # login profile's own CreateDate instead of the user's.
    original_get_report_response = IamResponse.get_credential_report

    def get_credential_report_response(self: IamResponse) -> Any:
        result = original_get_report_response(self)
        frozen = frozen_report(self.backend)
        result.result["GeneratedTime"] = frozen[1] if frozen else utcnow()
        return result

    def patch_login_profile_response(name: str) -> None:
        original = getattr(IamResponse, name)

        def wrapper(self: IamResponse) -> Any:
            result = original(self)
            user = self.backend.get_user(self._get_param("UserName"))
            created = getattr(user, "_janitor_login_profile_created", None)
            if created is not None:
                result.result["LoginProfile"]["CreateDate"] = created
            return result

        setattr(IamResponse, name, wrapper)

    # ListUsers: moto ignores MaxItems/Marker and returns every user at once;
    # real IAM pages (MaxItems default 100, at most 1000, opaque Marker).
    original_list_users = IamResponse.list_users

    def list_users_response(self: IamResponse) -> Any:
        result = original_list_users(self)
        users = list(result.result["Users"])
        try:
            max_items = min(max(int(self._get_param("MaxItems") or 100), 1), 1000)
            start = int(self._get_param("Marker") or 0)
        except ValueError:
            max_items, start = 100, 0
        end = start + max_items
        result.result["Users"] = users[start:end]
        result.result["IsTruncated"] = end < len(users)
        if end < len(users):
            result.result["Marker"] = str(end)
        return result

    IamResponse.get_credential_report = get_credential_report_response  # type: ignore[method-assign]
    IamResponse.list_users = list_users_response  # type: ignore[method-assign]
    patch_login_profile_response("create_login_profile")
    patch_login_profile_response("get_login_profile")


def install_s3_patches() -> None:
    """A bucket's BucketEncryption from a CloudFormation template keeps its
    BucketKeyEnabled: moto 5.2.5 (moto/s3/cloud_formation.py) drops it, so objects
    written to such a bucket would not use the S3 Bucket Key, and SSE-KMS requests
    would carry the object's ARN as encryption context instead of the bucket's. It
    is recorded as the REST API records it ("true"/"false" text)."""
    original = s3_models.cfn_to_api_encryption

    def cfn_to_api_encryption(properties: dict[str, Any]) -> dict[str, Any]:
        encryption = original(properties)
        rules = properties.get("ServerSideEncryptionConfiguration") or [{}]
        enabled = rules[0].get("BucketKeyEnabled")
        if enabled is not None:
            encryption["Rule"]["BucketKeyEnabled"] = "true" if _as_bool(enabled) else "false"
        return encryption

    s3_models.cfn_to_api_encryption = cfn_to_api_encryption  # type: ignore[assignment]


def install_kms_patches() -> None:
    """CreateKey without KeyUsage makes an ENCRYPT_DECRYPT key, as KMS does (and
    DescribeKey says so); moto 5.2.5 records no usage at all."""
    original = KmsBackend.create_key

    def create_key(self: KmsBackend, policy: Any, key_usage: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, policy, key_usage or "ENCRYPT_DECRYPT", *args, **kwargs)

    KmsBackend.create_key = create_key  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# StackSets: what CloudFormation remembers about a service-managed StackSet
# and moto 5.2.5 does not.
# --------------------------------------------------------------------------


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def org_accounts_under(account: str, partition: str, targets: Iterable[str]) -> list[str]:
    """The member accounts in the given roots/OUs of `account`'s organization,
    nested OUs included."""
    org = organizations_backends[account][partition]
    parents = set(targets)
    while True:
        children = {ou.id for ou in org.ou if ou.parent_id in parents} - parents
        if not children:
            break
        parents |= children
    return [a.id for a in org.accounts if a.parent_id in parents]


def install_stackset_patches() -> None:
    """DescribeStackSet shows AutoDeployment and ManagedExecution as last set
    and the OUs stack instances were created for (CreateStackInstances adds,
    DeleteStackInstances removes); DeleteStackInstances deletes the instances
    of the accounts in the targeted OUs. Class-level, so they survive resets."""

    StackSet.managed_execution = property(  # type: ignore[method-assign,assignment]
        lambda self: {"Active": getattr(self, "_janitor_managed_execution", False)})
    StackSet.organizational_unit_ids = property(  # type: ignore[attr-defined]
        lambda self: sorted(getattr(self, "_janitor_org_units", set())))

    def deployment_org_units(response: CloudFormationResponse) -> list[str]:
        targets = response._get_params().get("DeploymentTargets") or {}
        return list(targets.get("OrganizationalUnitIds") or [])

    def remember_options(response: CloudFormationResponse) -> None:
        stack_set = response.cloudformation_backend.describe_stack_set(
            response._get_param("StackSetName"))
        auto = response._get_param("AutoDeployment")
        if isinstance(auto, dict) and "Enabled" in auto:
            stack_set.auto_deployment = {  # type: ignore[attr-defined]
                "Enabled": _as_bool(auto["Enabled"]),
                "RetainStacksOnAccountRemoval": _as_bool(
                    auto.get("RetainStacksOnAccountRemoval", False)),
            }
        managed = response._get_param("ManagedExecution")
        if isinstance(managed, dict) and "Active" in managed:
            stack_set._janitor_managed_execution = _as_bool(managed["Active"])  # type: ignore[attr-defined]

    def remembering(name: str) -> None:
        original = getattr(CloudFormationResponse, name)

        def wrapper(self: CloudFormationResponse) -> Any:
            result = original(self)
            remember_options(self)
            return result

        setattr(CloudFormationResponse, name, wrapper)

    remembering("create_stack_set")
    remembering("update_stack_set")

    original_create_instances = CloudFormationResponse.create_stack_instances

    def create_stack_instances(self: CloudFormationResponse) -> Any:
        result = original_create_instances(self)
        stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
        org_units = getattr(stack_set, "_janitor_org_units", set())
        org_units.update(deployment_org_units(self))
        stack_set._janitor_org_units = org_units  # type: ignore[attr-defined]
        return result

    def delete_stack_instances(self: CloudFormationResponse) -> Any:
        name = self._get_param("StackSetName")
        accounts = list(self._get_param("Accounts", []) or [])
        regions = list(self._get_param("Regions", []) or [])
        org_units = deployment_org_units(self)
        if org_units:
            for account in org_accounts_under(self.current_account, self.partition, org_units):
                if account not in accounts:
                    accounts.append(account)
        stack_set = self.cloudformation_backend.delete_stack_instances(name, accounts, regions)
        remaining = getattr(stack_set, "_janitor_org_units", set())
        stack_set._janitor_org_units = remaining - set(org_units)  # type: ignore[attr-defined]
        return ActionResult({"OperationId": stack_set.operations[-1]["OperationId"]})

    CloudFormationResponse.create_stack_instances = create_stack_instances  # type: ignore[method-assign]
    CloudFormationResponse.delete_stack_instances = delete_stack_instances  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# IAM query-protocol XML
# --------------------------------------------------------------------------


def xml_response(start_response: Callable[..., Any], status: int, body: str,
                 request_id: str) -> list[bytes]:
    data = body.encode("utf-8")
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
              409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Error")
    start_response(f"{status} {reason}", [
        ("Content-Type", "text/xml"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", request_id),
    ])
    return [data]


def iam_error(start_response: Callable[..., Any], status: int, code: str,
              message: str, error_type: str = "Sender") -> list[bytes]:
    request_id = str(uuid.uuid4())
    body = (
        f'<ErrorResponse xmlns="{IAM_XMLNS}"><Error><Type>{escape(error_type)}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return xml_response(start_response, status, body, request_id)


def iam_result(start_response: Callable[..., Any], action: str, inner: str) -> list[bytes]:
    request_id = str(uuid.uuid4())
    body = (
        f'<{action}Response xmlns="{IAM_XMLNS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return xml_response(start_response, 200, body, request_id)


def tag(name: str, value: Any) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


# --------------------------------------------------------------------------
# Service-specific credentials (moto has none): CodeCommit Git credentials,
# Amazon Keyspaces, Bedrock API keys. Kept on moto's user object, so a reset or
# a deleted user forgets them.
# --------------------------------------------------------------------------

SERVICE_CREDENTIAL_SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com",
                               "bedrock.amazonaws.com")


def service_credentials_of(user: Any) -> dict[str, dict[str, Any]]:
    creds = getattr(user, "_janitor_service_credentials", None)
    if creds is None:
        creds = {}
        user._janitor_service_credentials = creds
    return creds


def add_service_credential(user: Any, service: str, created: datetime | None,
                           status: str) -> dict[str, Any]:
    cred_id = "ACCA" + "".join(random.choice(ID_ALPHABET) for _ in range(17))
    cred = {"id": cred_id, "user": user.name, "service": service,
            "created": created or utcnow(), "status": status,
            "service_user_name": f"{user.name}-at-{random.randint(10**11, 10**12 - 1)}"}
    service_credentials_of(user)[cred_id] = cred
    return cred


def service_credential_xml(c: dict[str, Any]) -> str:
    return ("<member>" + tag("UserName", c["user"]) + tag("Status", c["status"])
            + tag("ServiceUserName", c["service_user_name"])
            + tag("CreateDate", fmt_xml_time(c["created"]))
            + tag("ServiceSpecificCredentialId", c["id"]) + tag("ServiceName", c["service"])
            + "</member>")


def list_service_specific_credentials(backend: IAMBackend, params: dict[str, str],
                                      start_response: Callable[..., Any]) -> list[bytes]:
    """ListServiceSpecificCredentials: one user's (UserName), or with AllUsers=true
    every user's for one ServiceName, paged (MaxItems, Marker) like IAM."""
    all_users = params.get("AllUsers", "").lower() == "true"
    service = params.get("ServiceName")
    name = params.get("UserName")
    if all_users and name:
        return iam_error(start_response, 400, "InvalidInput",
                         "AllUsers cannot be specified together with UserName.")
    if all_users:
        users = list(backend.users.values())
    else:
        user = backend.users.get(name or "")
        if user is None:
            return iam_error(start_response, 404, "NoSuchEntity",
                             f"The user with name {name} cannot be found.")
        users = [user]
    creds = [c for u in users for c in service_credentials_of(u).values()
             if service is None or c["service"] == service]
    creds.sort(key=lambda c: (c["user"], to_naive_utc(c["created"]), c["id"]))
    try:
        max_items = min(max(int(params.get("MaxItems") or 100), 1), 1000)
        start = int(params.get("Marker") or 0)
    except ValueError:
        return iam_error(start_response, 400, "InvalidInput", "Invalid MaxItems or Marker")
    page = creds[start:start + max_items]
    truncated = start + max_items < len(creds)
    inner = ("<ServiceSpecificCredentials>" + "".join(service_credential_xml(c) for c in page)
             + "</ServiceSpecificCredentials>" + tag("IsTruncated", str(truncated).lower())
             + (tag("Marker", start + max_items) if truncated else ""))
    return iam_result(start_response, "ListServiceSpecificCredentials", inner)


def find_service_credential(backend: IAMBackend, params: dict[str, str]) -> dict[str, Any] | None:
    user = backend.users.get(params.get("UserName", ""))
    if user is None:
        return None
    return service_credentials_of(user).get(params.get("ServiceSpecificCredentialId", ""))


def update_service_specific_credential(backend: IAMBackend, params: dict[str, str],
                                       start_response: Callable[..., Any]) -> list[bytes]:
    status = params.get("Status", "")
    if status not in ("Active", "Inactive"):
        return iam_error(start_response, 400, "ValidationError", f"Invalid Status: {status}")
    cred = find_service_credential(backend, params)
    if cred is None:
        return iam_error(start_response, 404, "NoSuchEntity",
                         "No such service-specific credential for this user.")
    cred["status"] = status
    return iam_result(start_response, "UpdateServiceSpecificCredential", "")


def create_service_specific_credential(backend: IAMBackend, params: dict[str, str],
                                       start_response: Callable[..., Any]) -> list[bytes]:
    user = backend.users.get(params.get("UserName", ""))
    if user is None:
        return iam_error(start_response, 404, "NoSuchEntity", "The user cannot be found.")
    service = params.get("ServiceName", "")
    if service not in SERVICE_CREDENTIAL_SERVICES:
        return iam_error(start_response, 400, "NotSupportedService",
                         f"The specified service {service} is not supported.")
    cred = add_service_credential(user, service, None, "Active")
    inner = ("<ServiceSpecificCredential>" + tag("UserName", cred["user"])
             + tag("Status", cred["status"]) + tag("ServiceUserName", cred["service_user_name"])
             + tag("ServicePassword", uuid.uuid4().hex)
             + tag("CreateDate", fmt_xml_time(cred["created"]))
             + tag("ServiceSpecificCredentialId", cred["id"]) + tag("ServiceName", service)
             + "</ServiceSpecificCredential>")
    return iam_result(start_response, "CreateServiceSpecificCredential", inner)


def delete_service_specific_credential(backend: IAMBackend, params: dict[str, str],
                                       start_response: Callable[..., Any]) -> list[bytes]:
    cred = find_service_credential(backend, params)
    if cred is None:
        return iam_error(start_response, 404, "NoSuchEntity",
                         "No such service-specific credential for this user.")
    user = backend.users[params["UserName"]]
    del service_credentials_of(user)[cred["id"]]
    return iam_result(start_response, "DeleteServiceSpecificCredential", "")


SERVICE_CREDENTIAL_ACTIONS = {
    "ListServiceSpecificCredentials": list_service_specific_credentials,
    "UpdateServiceSpecificCredential": update_service_specific_credential,
    "CreateServiceSpecificCredential": create_service_specific_credential,
    "DeleteServiceSpecificCredential": delete_service_specific_credential,
}


# --------------------------------------------------------------------------
# Access Advisor (moto has none)
# --------------------------------------------------------------------------


def generate_service_last_accessed_details(params: dict[str, str],
                                           start_response: Callable[..., Any]) -> list[bytes]:
    arn = params.get("Arn", "")
    granularity = params.get("Granularity", "SERVICE_LEVEL")
    if granularity not in ("SERVICE_LEVEL", "ACTION_LEVEL"):
        return iam_error(start_response, 400, "InvalidInput",
                         f"Invalid Granularity: {granularity}")
    services: list[dict[str, Any]] = []
    failure = None
    user_match = USER_ARN_RE.match(arn)
    if user_match:
        account, name = user_match.group(1), user_match.group(3)
        with MOTO_LOCK:
            user = iam_backend(account).users.get(name)
            exists = user is not None and user.arn == arn
        if not exists:
            return iam_error(start_response, 404, "NoSuchEntity",
                             f"The user with name {name} cannot be found.")
        with STATE.lock:
            services = [dict(s) for s in STATE.advisor.get((account, name), [])]
            failure = STATE.advisor_fail.get((account, name))
    elif ENTITY_ARN_RE.match(arn):
        account = arn.split(":")[4]
    else:
        return iam_error(start_response, 400, "InvalidInput", f"Invalid ARN: {arn}")
    job_id = str(uuid.uuid4())
    with STATE.lock:
        STATE.jobs[job_id] = AdvisorJob(account=account, arn=arn, granularity=granularity,
                                        created=utcnow(), services=services, failure=failure)
    return iam_result(start_response, "GenerateServiceLastAccessedDetails", tag("JobId", job_id))


def get_service_last_accessed_details(params: dict[str, str],
                                      start_response: Callable[..., Any]) -> list[bytes]:
    job_id = params.get("JobId", "")
    try:
        max_items = int(params.get("MaxItems", "100"))
        start = int(params.get("Marker", "0"))
    except ValueError:
        return iam_error(start_response, 400, "InvalidInput", "Invalid MaxItems or Marker")
    if not 1 <= max_items <= 1000:
        return iam_error(start_response, 400, "InvalidInput", f"Invalid MaxItems: {max_items}")
    with STATE.lock:
        job = STATE.jobs.get(job_id)
        if job is None:
            return iam_error(start_response, 404, "NoSuchEntity", f"No such job: {job_id}")
        # The first poll always finds the job still running, and so does every poll
        # before the job's duration has passed.
        job.polls += 1
        elapsed = (utcnow() - job.created).total_seconds()
        if job.polls >= 2 and job.completed is None and elapsed >= STATE.advisor_job_seconds:
            job.completed = utcnow()
        completed = job.completed
        services = job.services
        failure = job.failure
        created = job.created
        arn = job.arn
        granularity = job.granularity
        if STATE.advisor_page_cap:
            max_items = min(max_items, STATE.advisor_page_cap)
    if start < 0 or start > len(services):
        return iam_error(start_response, 400, "InvalidInput", f"Invalid Marker: {start}")

    if completed is None:
        status = "IN_PROGRESS"
    elif failure is not None:
        status = "FAILED"
    else:
        status = "COMPLETED"
    parts = [tag("JobStatus", status), tag("JobType", granularity),
             tag("JobCreationDate", fmt_xml_time(created))]
    page: list[dict[str, Any]] = []
    truncated = False
    if status == "COMPLETED":
        page = services[start:start + max_items]
        truncated = start + max_items < len(services)
    members = []
    for svc in page:
        member = tag("ServiceName", svc["name"]) + tag("ServiceNamespace", svc["namespace"])
        if svc["last_authenticated"] is not None:
            member += tag("LastAuthenticated", fmt_xml_time(svc["last_authenticated"]))
            member += tag("LastAuthenticatedEntity", arn)
            if svc.get("region"):
                member += tag("LastAuthenticatedRegion", svc["region"])
            member += tag("TotalAuthenticatedEntities", 1)
        else:
            member += tag("TotalAuthenticatedEntities", 0)
        members.append(f"<member>{member}</member>")
    parts.append(f"<ServicesLastAccessed>{''.join(members)}</ServicesLastAccessed>")
    if completed is not None:
        parts.append(tag("JobCompletionDate", fmt_xml_time(completed)))
    parts.append(tag("IsTruncated", "true" if truncated else "false"))
    if truncated:
        parts.append(tag("Marker", start + max_items))
    if status == "FAILED" and failure is not None:
        parts.append(f"<Error>{tag('Message', failure[1])}{tag('Code', failure[0])}</Error>")
    return iam_result(start_response, "GetServiceLastAccessedDetails", "".join(parts))


ADVISOR_ACTIONS = {
    "GenerateServiceLastAccessedDetails": generate_service_last_accessed_details,
    "GetServiceLastAccessedDetails": get_service_last_accessed_details,
}


# --------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------


def seed_users(account: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_janitor/seed: create users straight in the moto backend."""
    users = expect_list(body.get("users"), "users")
    # Validate everything first so a bad request changes nothing.
    specs = []
    seen: set[str] = set()
    for i, raw in enumerate(users):
        u = expect_obj(raw, f"users[{i}]")
        name = expect_str(u.get("name"), f"users[{i}].name")
        if name in seen:
            raise ControlError(f"users[{i}].name: duplicate user name {name!r}")
        seen.add(name)
        path = expect_str(u.get("path", "/"), f"users[{i}].path")
        tags = expect_obj(u.get("tags") or {}, f"users[{i}].tags")
        for k, v in tags.items():
            expect_str(v, f"users[{i}].tags[{k!r}]")
        create_date = parse_optional_time(u.get("create_date"), f"users[{i}].create_date")
        password = u.get("password")
        if password is not None:
            password = expect_obj(password, f"users[{i}].password")
            password = {
                "last_changed": parse_optional_time(password.get("last_changed"),
                                                    f"users[{i}].password.last_changed"),
                "last_used": parse_optional_time(password.get("last_used"),
                                                 f"users[{i}].password.last_used"),
            }
        keys = []
        raw_keys = expect_list(u.get("keys") or [], f"users[{i}].keys")
        if len(raw_keys) > 2:
            raise ControlError(f"users[{i}].keys: at most 2 access keys per user, got {len(raw_keys)}")
        for j, rk in enumerate(raw_keys):
            k = expect_obj(rk, f"users[{i}].keys[{j}]")
            status = k.get("status", "Active")
            if status not in ("Active", "Inactive"):
                raise ControlError(f"users[{i}].keys[{j}].status: invalid status {status!r}")
            keys.append({
                "create_date": parse_optional_time(k.get("create_date"),
                                                   f"users[{i}].keys[{j}].create_date"),
                "last_used": parse_optional_time(k.get("last_used"),
                                                 f"users[{i}].keys[{j}].last_used"),
                "service": expect_str(k.get("last_used_service", "iam"),
                                      f"users[{i}].keys[{j}].last_used_service"),
                "region": expect_str(k.get("last_used_region", REGION),
                                     f"users[{i}].keys[{j}].last_used_region"),
                "status": status,
            })
        certificates = []
        raw_certs = expect_list(u.get("certificates") or [], f"users[{i}].certificates")
        if len(raw_certs) > 2:
            raise ControlError(
                f"users[{i}].certificates: at most 2 signing certificates per user, got {len(raw_certs)}")
        for j, rc in enumerate(raw_certs):
            c = expect_obj(rc, f"users[{i}].certificates[{j}]")
            status = c.get("status", "Active")
            if status not in ("Active", "Inactive"):
                raise ControlError(f"users[{i}].certificates[{j}].status: invalid status {status!r}")
            certificates.append({
                "upload_date": parse_optional_time(c.get("upload_date"),
                                                   f"users[{i}].certificates[{j}].upload_date"),
                "status": status,
            })
        service_credentials = []
        raw_sc = expect_list(u.get("service_credentials") or [], f"users[{i}].service_credentials")
        for j, rc in enumerate(raw_sc):
            c = expect_obj(rc, f"users[{i}].service_credentials[{j}]")
            service = expect_str(c.get("service"), f"users[{i}].service_credentials[{j}].service")
            if service not in SERVICE_CREDENTIAL_SERVICES:
                raise ControlError(f"users[{i}].service_credentials[{j}].service: "
                                   f"not one of {list(SERVICE_CREDENTIAL_SERVICES)}: {service!r}")
            status = c.get("status", "Active")
            if status not in ("Active", "Inactive"):
                raise ControlError(f"users[{i}].service_credentials[{j}].status: invalid status {status!r}")
            service_credentials.append({
                "service": service,
                "create_date": parse_optional_time(c.get("create_date"),
                                                   f"users[{i}].service_credentials[{j}].create_date"),
                "status": status,
            })
        ssh_keys = []
        for j, rk in enumerate(expect_list(u.get("ssh_keys") or [], f"users[{i}].ssh_keys")):
            k = expect_obj(rk, f"users[{i}].ssh_keys[{j}]")
            status = k.get("status", "Active")
            if status not in ("Active", "Inactive"):
                raise ControlError(f"users[{i}].ssh_keys[{j}].status: invalid status {status!r}")
            ssh_keys.append({
                "upload_date": parse_optional_time(k.get("upload_date"),
                                                   f"users[{i}].ssh_keys[{j}].upload_date"),
                "status": status,
            })
        policies = [expect_str(p, f"users[{i}].managed_policy_arns[{j}]")
                    for j, p in enumerate(expect_list(u.get("managed_policy_arns") or [],
                                                      f"users[{i}].managed_policy_arns"))]
        specs.append((name, path, tags, create_date, password, keys, policies, certificates,
                      service_credentials, ssh_keys))

    backend = iam_backend(account)
    for i, (name, *_rest) in enumerate(specs):
        if name in backend.users:
            raise ControlError(f"users[{i}].name: user {name!r} already exists")
    for i, spec in enumerate(specs):
        for arn in spec[6]:
            ensure_aws_managed_policy(backend, arn)
            if arn not in backend.managed_policies:
                raise ControlError(f"users[{i}].managed_policy_arns: no such policy {arn!r}")

    out = []
    for (name, path, tags, create_date, password, keys, policies, certificates,
         service_credentials, ssh_keys) in specs:
        user = backend.create_user(REGION, name, path=path,
                                   tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        if create_date is not None:
            user.create_date = create_date
        if password is not None:
            backend.create_login_profile(name, "Emulated-Passw0rd!" + uuid.uuid4().hex[:8])
            if password["last_changed"] is not None:
                user._janitor_password_last_changed = password["last_changed"]
                user._janitor_login_profile_created = password["last_changed"]
            user.password_last_used = password["last_used"]
        key_ids = []
        for k in keys:
            key = backend.create_access_key(name, status=k["status"])
            if k["create_date"] is not None:
                key.create_date = k["create_date"]
            if k["last_used"] is not None:
                key.last_used = AccessKeyLastUsed(k["last_used"], k["service"], k["region"])
            key_ids.append(key.access_key_id)
        certificate_ids = []
        for c in certificates:
            # Straight into the backend: moto's UploadSigningCertificate wants a real
            # PEM body, which nothing here reads.
            cert_id = "".join(random.choice(ID_ALPHABET) for _ in range(24))
            cert = SigningCertificate(cert_id, name, "-----BEGIN CERTIFICATE-----emulated")
            if c["upload_date"] is not None:
                cert.upload_date = c["upload_date"]
            cert.status = c["status"]
            user.signing_certificates[cert_id] = cert
            certificate_ids.append(cert_id)
        for arn in policies:
            backend.attach_user_policy(arn, name)
        service_credential_ids = [
            add_service_credential(user, c["service"], c["create_date"], c["status"])["id"]
            for c in service_credentials
        ]
        ssh_key_ids = []
        for k in ssh_keys:
            key = SshPublicKey(name, "ssh-rsa AAAAemulated" + uuid.uuid4().hex)
            if k["upload_date"] is not None:
                key.upload_date = k["upload_date"]
            key.status = k["status"]
            user.ssh_public_keys.append(key)
            ssh_key_ids.append(key.ssh_public_key_id)
        out.append({"name": name, "arn": user.arn, "access_key_ids": key_ids,
                    "certificate_ids": certificate_ids,
                    "service_credential_ids": service_credential_ids,
                    "ssh_key_ids": ssh_key_ids})
    return {"users": out}


def patch_user(account: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_janitor/users/<name>: absent key = unchanged, null = clear."""
    user = iam_backend(account).users.get(name)
    if user is None:
        raise ControlError(f"no such user {name!r} in account {account}")
    known = {"create_date", "password_last_used", "password_last_changed"}
    unknown = set(body) - known
    if unknown:
        raise ControlError(f"unknown field(s) {sorted(unknown)}")
    updates = {}
    if "create_date" in body:
        updates["create_date"] = parse_time(body["create_date"], "create_date")
    if "password_last_used" in body:
        updates["password_last_used"] = parse_optional_time(body["password_last_used"],
                                                            "password_last_used")
    if "password_last_changed" in body:
        updates["_janitor_password_last_changed"] = parse_optional_time(
            body["password_last_changed"], "password_last_changed")
    for attr, value in updates.items():
        setattr(user, attr, value)
    # As in IAM, a password is never changed before its login profile was created.
    changed = getattr(user, "_janitor_password_last_changed", None)
    created = getattr(user, "_janitor_login_profile_created", None)
    if changed is not None and created is not None and to_naive_utc(changed) < to_naive_utc(created):
        user._janitor_login_profile_created = changed
    return {"ok": True}


def find_access_key(account: str, key_id: str) -> Any:
    for user in iam_backend(account).users.values():
        for key in user.access_keys:
            if key.access_key_id == key_id:
                return key
    raise ControlError(f"no such access key {key_id!r} in account {account}")


def patch_access_key(account: str, key_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_janitor/access-keys/<id>: absent key = unchanged, null = clear."""
    key = find_access_key(account, key_id)
    known = {"create_date", "last_used", "last_used_service", "last_used_region"}
    unknown = set(body) - known
    if unknown:
        raise ControlError(f"unknown field(s) {sorted(unknown)}")
    create_date = parse_time(body["create_date"], "create_date") if "create_date" in body else None
    _, old_region, old_service = key_last_used(key)
    service = body.get("last_used_service")
    region = body.get("last_used_region")
    if service is not None:
        expect_str(service, "last_used_service")
    if region is not None:
        expect_str(region, "last_used_region")
    if "last_used" in body:
        last_used = parse_optional_time(body["last_used"], "last_used")
    else:
        last_used, _, _ = key_last_used(key)
    if last_used is None and (service is not None or region is not None):
        raise ControlError("last_used_service/last_used_region need a last_used timestamp")
    if create_date is not None:
        key.create_date = create_date
    if last_used is None:
        key.last_used = None
    else:
        key.last_used = AccessKeyLastUsed(
            last_used,
            service or (old_service if old_service != "N/A" else "iam"),
            region or (old_region if old_region != "N/A" else REGION),
        )
    return {"ok": True}


def parse_fault(body: dict[str, Any]) -> FaultRule:
    user = body.get("user")
    if user is not None:
        expect_str(user, "user")
    return FaultRule(
        action=expect_str(body.get("action"), "action"),
        remaining=expect_int(body.get("count", 1), "count", 1, 1_000_000_000),
        code=expect_str(body.get("code", "Throttling"), "code"),
        status=expect_int(body.get("status", 400), "status", 400, 599),
        message=expect_str(body.get("message", "Rate exceeded"), "message"),
        user=user,
    )


def parse_chaos(body: dict[str, Any]) -> Chaos:
    seed = expect_int(body.get("seed"), "seed", 0, 2**63)
    fraction = body.get("fraction")
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 <= fraction <= 1:
        raise ControlError(f"fraction: expected a number from 0 to 1, got {fraction!r}")
    kinds = [expect_str(k, f"kinds[{i}]") for i, k in enumerate(expect_list(body.get("kinds"), "kinds"))]
    if not kinds:
        raise ControlError("kinds: expected at least one of " + ", ".join(CHAOS_KINDS))
    for k in kinds:
        if k not in CHAOS_KINDS:
            raise ControlError(f"kinds: {k!r} is not one of " + ", ".join(CHAOS_KINDS))
    actions = body.get("actions", [])
    actions = {expect_str(a, f"actions[{i}]") for i, a in enumerate(expect_list(actions, "actions"))}
    access_key = expect_str(body.get("access_key", ""), "access_key")
    return Chaos(seed=seed, fraction=float(fraction), kinds=kinds, actions=actions, access_key=access_key)


def stable_params(params: dict[str, str]) -> dict[str, str]:
    """The request's parameters with the values that differ from one seeding or
    run to the next (job IDs, access key IDs) replaced by what they stand for, so
    that chaos draws the same faults for the same requests. Takes STATE.lock and
    MOTO_LOCK one after the other, never nested (iam_effect nests them the other way)."""
    out = dict(params)
    with STATE.lock:
        job = STATE.jobs.get(params.get("JobId", ""))
    if job is not None:
        out["JobId"] = job.arn
    key_id = params.get("AccessKeyId")
    if key_id:
        with MOTO_LOCK:
            for account in list(iam_backends.keys()):
                backend = iam_backends[account].get(PARTITION)
                owner = next((u for u in backend.users.values()
                              if any(k.access_key_id == key_id for k in u.access_keys)), None) if backend else None
                if owner is not None:
                    index = [k.access_key_id for k in owner.access_keys].index(key_id)
                    out["AccessKeyId"] = f"{owner.name}#{index}"
                    break
    return out


def drop_connection(environ: dict[str, Any]) -> None:
    """Ends the TCP connection without an answer (the client sees the
    connection close mid-request)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("werkzeug.socket missing: cannot drop the connection")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def parse_advisor_services(body: dict[str, Any]) -> list[dict[str, Any]]:
    services = []
    for i, raw in enumerate(expect_list(body.get("services"), "services")):
        s = expect_obj(raw, f"services[{i}]")
        region = s.get("last_authenticated_region")
        if region is not None:
            expect_str(region, f"services[{i}].last_authenticated_region")
        services.append({
            "namespace": expect_str(s.get("namespace"), f"services[{i}].namespace"),
            "name": expect_str(s.get("name"), f"services[{i}].name"),
            "last_authenticated": parse_optional_time(s.get("last_authenticated"),
                                                      f"services[{i}].last_authenticated"),
            "region": region,
        })
    return services


def create_session(account: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /_janitor/sessions: credentials of a role session whose IAM
    requests are authorized against exactly the given policy documents; with
    `user`, credentials standing for that IAM user's own (its ARN, its tags)."""
    role = expect_str(body.get("role", "iam-janitor"), "role")
    path = expect_str(body.get("path", "/"), "path")
    user = body.get("user")
    if user is not None:
        user = expect_str(user, "user")
    if not (path.startswith("/") and path.endswith("/")):
        raise ControlError(f"path: must start and end with '/', got {path!r}")
    policies = [expect_obj(p, f"policies[{i}]")
                for i, p in enumerate(expect_list(body.get("policies"), "policies"))]
    scps = [expect_obj(p, f"scps[{i}]")
            for i, p in enumerate(expect_list(body.get("scps", []), "scps"))]
    # Fail at creation, not at first use, on what the evaluator can't model.
    probe = iam_authz.Check("iam:GetUser", f"arn:aws:iam::{account}:user/probe")
    try:
        iam_authz.evaluate(policies, probe)
        iam_authz.denied_by_scps(scps, probe)
    except iam_authz.Unsupported as e:
        raise ControlError(f"policies: {e}") from None
    if user is not None:
        with MOTO_LOCK:
            found = iam_backend(account).users.get(user)
            if found is None:
                raise ControlError(f"user: no user {user!r} in account {account}")
            principal_arn = found.arn
        arn = principal_arn
    else:
        principal_arn = f"arn:{PARTITION}:iam::{account}:role{path}{role}"
        arn = f"arn:{PARTITION}:sts::{account}:assumed-role/{role}/iam-janitor-tests"
    with MOTO_LOCK:
        assumed = sts_backends[account][PARTITION].assume_role(
            region_name="us-east-1", role_session_name="iam-janitor-tests",
            role_arn=f"arn:{PARTITION}:iam::{account}:role{path}{role}",
            policy="", duration=3600, external_id="")
    with STATE.lock:
        STATE.sessions[assumed.access_key_id] = Session(account=account, arn=arn, policies=policies,
                                                        scps=scps, role_arn=principal_arn, user=user)
    return {"access_key_id": assumed.access_key_id,
            "secret_access_key": assumed.secret_access_key,
            "session_token": assumed.session_token,
            "arn": arn}


def principal_context(session: Session) -> dict[str, list[str]]:
    """The condition keys every request of the session carries: aws:PrincipalArn,
    aws:PrincipalAccount, aws:PrincipalType, aws:PrincipalOrgID (when the account
    is in an organization), and for a user's own credentials aws:username and the
    user's tags (read at request time)."""
    context = {"aws:principalarn": [session.role_arn],
               "aws:principalaccount": [session.account],
               "aws:principaltype": ["User" if session.user is not None else "AssumedRole"]}
    with MOTO_LOCK:
        org = organization_of(session.account)
        tags = user_tags(iam_backend(session.account), session.user) if session.user else {}
    if org is not None:
        context["aws:principalorgid"] = [org]
    if session.user is not None:
        context["aws:username"] = [session.user]
    for key, value in tags.items():
        context[f"aws:principaltag/{key.lower()}"] = [value]
    return context


def organization_of(account: str) -> str | None:
    """The ID (o-...) of the organization `account` belongs to, as management or
    member account; None if none. Call under MOTO_LOCK."""
    backend = organizations_backends[account][PARTITION]
    if backend.org is not None:
        return backend.org.id
    # moto maps each member account to its management account (and keeps stale
    # entries across resets: check the account is still there).
    owner = organizations_backends.master_accounts.get(account)
    if owner is None:
        return None
    management = organizations_backends[owner[0]][owner[1]]
    if management.org is None or not any(a.id == account for a in management.accounts):
        return None
    return management.org.id


def moto_bucket(name: str) -> tuple[str, FakeBucket] | None:
    """(owner account, moto's bucket) of an existing S3 bucket; None if there is no
    such bucket. Call under MOTO_LOCK."""
    entry = s3_backends.bucket_accounts.get(name)
    if entry is None:
        return None
    partition, owner = entry
    bucket = s3_backends[owner][partition].buckets.get(name)
    if bucket is None:
        return None
    return owner, bucket


def bucket_of(name: str) -> tuple[str, dict[str, Any] | None] | None:
    """(owner account, bucket policy document or None) of an existing S3 bucket;
    None if there is no such bucket. Call under MOTO_LOCK."""
    found = moto_bucket(name)
    if found is None:
        return None
    owner, bucket = found
    policy = json.loads(bucket.policy) if bucket.policy else None
    return owner, policy


def user_tags(backend: Any, name: str) -> dict[str, str]:
    """An existing IAM user's tags ({} for no such user). Call under MOTO_LOCK."""
    user = backend.users.get(name)
    if user is None:
        return {}
    return {t["Key"]: t["Value"] for t in backend.tagger.list_tags_for_resource(user.arn)["Tags"]}


def decide(session: Session, check: iam_authz.Check) -> iam_authz.Decision:
    """The session's SCPs, then its identity-based policies, for one check."""
    check.context.update(principal_context(session))
    if iam_authz.denied_by_scps(session.scps, check):
        return iam_authz.Decision(False, "scp deny", check)
    return iam_authz.evaluate(session.policies, check)


S3_ARN_PREFIX = f"arn:{PARTITION}:s3:::"


def decide_s3(session: Session, check: iam_authz.Check) -> iam_authz.Decision:
    """IAM's decision for one S3 check of a session: its SCPs and identity-based
    policies, and the bucket's policy, combined as AWS does (explicit deny wins;
    in the bucket owner's account either allows; across accounts both must)."""
    identity = decide(session, check)
    bucket = check.resource[len(S3_ARN_PREFIX):].split("/", 1)[0] \
        if check.resource.startswith(S3_ARN_PREFIX) else ""
    with MOTO_LOCK:
        found = bucket_of(bucket) if bucket else None
    # A bucket that does not exist (yet) has no policy; its would-be owner is the caller.
    owner, policy = found if found is not None else (session.account, None)
    resource = None
    if policy is not None:
        principal = iam_authz.Principal(account=session.account, arn=session.role_arn,
                                        session_arn=session.arn)
        resource = iam_authz.evaluate_resource_policy(policy, check, principal)
    return iam_authz.combine(identity, resource, same_account=owner == session.account)


# --------------------------------------------------------------------------
# SSE-KMS: the KMS calls S3 makes on a session's behalf
# --------------------------------------------------------------------------

SSE_KMS = "aws:kms"
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/([^/]+)$")


@dataclass
class KmsUse:
    """A KMS call S3 makes with the caller's identity for one request."""

    # kms:GenerateDataKey (a write) or kms:Decrypt (a read).
    action: str
    # The key as the bucket's default encryption, the request or the object names it.
    key_id: str
    # The account a key ID that is not an ARN names a key of: the requester's (S3
    # resolves it there, so across accounts only a key ARN names the bucket owner's).
    requester: str
    # The bucket's Region (the key must be there).
    region: str
    # Whether the object uses an S3 Bucket Key (encryption context: the bucket's ARN).
    bucket_key: bool


def _is_true(value: Any) -> bool:
    """moto records BucketKeyEnabled as given: "true"/"false" text or a bool."""
    return str(value).lower() == "true"


def _stored_object(bucket: FakeBucket, name: str, version_id: str | None) -> FakeKey | None:
    """An object (the current version, or `version_id`) as moto stores it; None for
    no such object or a delete marker. Unlike moto's get_object it does not touch
    the object. Call under MOTO_LOCK."""
    if version_id is None:
        found = bucket.keys.get(name)
    else:
        found = next((v for v in bucket.keys.getlist(name, default=[])
                      if str(v.version_id) == version_id), None)
    return found if isinstance(found, FakeKey) else None


def _uses_kms(algorithm: str | None, what: str) -> bool:
    if algorithm is not None and algorithm.startswith(SSE_KMS) and algorithm != SSE_KMS:
        raise iam_authz.Unsupported(f"{what}: {algorithm} is not modelled")
    return algorithm == SSE_KMS


def _kms_key_id(key_id: str | None, what: str) -> str:
    if not key_id:
        raise iam_authz.Unsupported(f"{what}: SSE-KMS with the AWS managed key aws/s3 is not modelled")
    if key_id.startswith("alias/") or ":alias/" in key_id:
        raise iam_authz.Unsupported(f"{what}: a KMS key named by an alias ({key_id}) is not modelled")
    return key_id


def s3_kms_use(method: str, bucket_name: str, key: str, query: dict[str, str],
               headers: dict[str, str], requester: str) -> KmsUse | None:
    """The KMS call S3 makes for a request iam_authz.s3_checks allowed, None if it
    makes none: kms:GenerateDataKey for PutObject and CreateMultipartUpload when the
    request's x-amz-server-side-encryption headers, or else the bucket's default
    encryption, say aws:kms; kms:Decrypt for GetObject of an object moto recorded as
    SSE-KMS. The Bucket Key setting is the request's header, else the bucket's, as
    moto records it (a bucket without BucketKeyEnabled uses none); a read uses the
    object's. HeadObject decrypts nothing. Raises Unsupported for what is not
    modelled: parts and completion of a multipart upload and copies that involve
    SSE-KMS, DSSE-KMS, the AWS managed key aws/s3, keys named by alias, reading an
    object whose key moto recorded by ID (real S3 records the ARN the ID resolved to
    in the writer's account). `headers`: the lower-cased x-amz-* request headers;
    `requester`: the caller's account. Call under MOTO_LOCK."""
    if not bucket_name or not key or method in ("HEAD", "DELETE"):
        return None
    found = moto_bucket(bucket_name)
    if found is None:
        return None
    bucket = found[1]
    region = bucket.region_name
    what = f"S3 {method} {bucket_name}/{key}"
    if method == "GET":
        stored = _stored_object(bucket, key, query.get("versionId"))
        if stored is None or not _uses_kms(stored.encryption, what):
            return None
        key_id = _kms_key_id(stored.kms_key_id, what)
        if not KMS_KEY_ARN_RE.match(key_id):
            raise iam_authz.Unsupported(f"{what}: an object whose KMS key moto recorded by ID ({key_id})")
        return KmsUse("kms:Decrypt", key_id, requester, region, _is_true(stored.bucket_key_enabled))

    rule = (bucket.encryption or {}).get("Rule") or {}
    if not isinstance(rule, dict):
        raise iam_authz.Unsupported(f"{what}: a default encryption of several rules is not modelled")
    default = rule.get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = headers.get("x-amz-server-side-encryption")
    if algorithm:
        key_id = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    elif headers.get("x-amz-server-side-encryption-aws-kms-key-id"):
        raise iam_authz.Unsupported(f"{what}: a KMS key ID without x-amz-server-side-encryption")
    else:
        algorithm, key_id = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
    bucket_key = headers.get("x-amz-server-side-encryption-bucket-key-enabled",
                             rule.get("BucketKeyEnabled", False))
    writes_kms = _uses_kms(algorithm, what)

    upload_id = query.get("uploadId")
    if upload_id is not None:
        # UploadPart and CompleteMultipartUpload.
        upload = bucket.multiparts.get(upload_id)
        if writes_kms or (upload is not None and _uses_kms(upload.sse_encryption, what)):
            raise iam_authz.Unsupported(f"{what}: multipart upload parts with SSE-KMS are not modelled")
        return None
    source = headers.get("x-amz-copy-source")
    if source:
        source_path, _, source_query = unquote(source).lstrip("/").partition("?")
        source_bucket_name, _, source_key = source_path.partition("/")
        source_bucket = moto_bucket(source_bucket_name)
        version = parse_qs(source_query).get("versionId", [None])[0]
        copied = _stored_object(source_bucket[1], source_key, version) if source_bucket else None
        if writes_kms or (copied is not None and _uses_kms(copied.encryption, what)):
            raise iam_authz.Unsupported(f"{what}: copying with SSE-KMS is not modelled")
        return None
    if not writes_kms:
        return None
    # PutObject, CreateMultipartUpload.
    return KmsUse("kms:GenerateDataKey", _kms_key_id(key_id, what), requester, region,
                  _is_true(bucket_key))


@dataclass
class KmsKey:
    """A KMS key as KMS authorizes its use."""

    arn: str
    account: str
    policy: dict[str, Any]
    # moto's KeyState: Enabled, Disabled, PendingDeletion, ...
    state: str
    has_grants: bool


def find_kms_key(use: KmsUse) -> tuple[str, KmsKey | None]:
    """(the key's ARN, the key) of the key a KmsUse names; None for the key if it
    does not exist in the bucket's Region (a key ARN names its account and Region, a
    key ID the requester's key there). Call under MOTO_LOCK."""
    named = KMS_KEY_ARN_RE.match(use.key_id)
    region, account, key_id = named.groups() if named else (use.region, use.requester, use.key_id)
    arn = f"arn:{PARTITION}:kms:{region}:{account}:key/{key_id}"
    if region != use.region:
        return arn, None
    key = kms_backends[account][region].keys.get(key_id)
    if key is None:
        return arn, None
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise iam_authz.Unsupported(f"S3 with the asymmetric KMS key {key.arn} is not modelled")
    return key.arn, KmsKey(arn=key.arn, account=key.account_id, policy=json.loads(key.policy),
                           state=key.key_state, has_grants=bool(key.grants))


def authorize_s3_kms(session: Session, use: KmsUse, bucket: str,
                     key: str) -> tuple[int, str, str] | None:
    """S3's answer (status, code, message) when the KMS call it makes for a session
    fails, None when it succeeds: the key must exist in the bucket's Region
    (KMS.NotFoundException); KMS must authorize the session (SCPs, identity-based
    policies and the key policy, iam_authz.kms_decision; AccessDenied with KMS's
    message); the key must be enabled (KMS.DisabledException,
    KMS.KMSInvalidStateException)."""
    with MOTO_LOCK:
        arn, found = find_kms_key(use)
    if found is None:
        return 400, "KMS.NotFoundException", f"Key '{arn}' does not exist"
    check = iam_authz.s3_kms_check(use.action, found.arn, use.region, session.account,
                                   bucket, key, use.bucket_key)
    identity = decide(session, check)
    principal = iam_authz.Principal(account=session.account, arn=session.role_arn,
                                    session_arn=session.arn)
    key_policy = iam_authz.evaluate_key_policy(found.policy, check, principal)
    decision = iam_authz.kms_decision(identity, key_policy, same_account=found.account == session.account,
                                      has_grants=found.has_grants)
    if not decision.allowed:
        return 403, "AccessDenied", iam_authz.denial_message(session.arn, decision)
    if found.state == "Disabled":
        return 400, "KMS.DisabledException", f"{found.arn} is disabled."
    if found.state == "PendingDeletion":
        return 400, "KMS.KMSInvalidStateException", f"{found.arn} is pending deletion."
    if found.state != "Enabled":
        return 400, "KMS.KMSInvalidStateException", f"{found.arn} is {found.state}."
    return None


def s3_request_target(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of an S3 request, path-style (/bucket/key, what the SDK sends
    to an endpoint URL with force_path_style) or virtual-hosted (bucket.s3...)."""
    # WSGI hands over PATH_INFO as latin-1-decoded bytes (already percent-decoded).
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    host = environ.get("HTTP_HOST", "")

    class Shim:
        headers = {"host": host}
        url = f"http://{host}{path}"

    if host and S3Response.subdomain_based_buckets(Shim):
        return host_bucket_name(Shim.url) or "", path[1:]
    bucket, _, key = path[1:].partition("/")
    return bucket, key


def s3_operation(method: str, bucket: str, key: str, query: dict[str, str]) -> str:
    """An S3 request's operation name, for the call counts."""
    if "x-id" in query:
        return query["x-id"]
    subresource = next((q for q in ("policy", "versions", "location", "uploads", "uploadId",
                                    "tagging", "acl", "delete") if q in query), "")
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if not key:
        named = {("GET", ""): "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects",
                 ("HEAD", ""): "HeadBucket", ("PUT", ""): "CreateBucket", ("DELETE", ""): "DeleteBucket",
                 ("GET", "policy"): "GetBucketPolicy", ("PUT", "policy"): "PutBucketPolicy",
                 ("DELETE", "policy"): "DeleteBucketPolicy", ("GET", "versions"): "ListObjectVersions",
                 ("GET", "location"): "GetBucketLocation", ("POST", "delete"): "DeleteObjects"}
        return named.get((method, subresource), f"{method} bucket?{subresource}")
    named = {("GET", ""): "GetObject", ("HEAD", ""): "HeadObject", ("PUT", ""): "PutObject",
             ("DELETE", ""): "DeleteObject", ("POST", "uploads"): "CreateMultipartUpload",
             ("POST", "uploadId"): "CompleteMultipartUpload", ("PUT", "uploadId"): "UploadPart",
             ("DELETE", "uploadId"): "AbortMultipartUpload", ("GET", "tagging"): "GetObjectTagging",
             ("PUT", "tagging"): "PutObjectTagging", ("GET", "acl"): "GetObjectAcl",
             ("PUT", "acl"): "PutObjectAcl"}
    return named.get((method, subresource), f"{method} object?{subresource}")


def s3_error(start_response: Callable[..., Any], method: str, status: int, code: str,
             message: str) -> list[bytes]:
    """S3's REST error answer (XML; a HEAD answer has no body)."""
    request_id = uuid.uuid4().hex[:16].upper()
    body = b"" if method == "HEAD" else (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    ).encode("utf-8")
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Error")
    start_response(f"{status} {reason}", [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
    ])
    return [body]


def authorize(session: Session, action: str, params: dict[str, str]) -> tuple[bool, str]:
    """(allowed, denial message) of one IAM request from a session."""
    with MOTO_LOCK:
        backend = iam_backend(session.account)

        def user_path(name: str) -> str | None:
            user = backend.users.get(name)
            return user.path if user is not None else None

        def key_owner(key_id: str) -> str | None:
            for user in backend.users.values():
                if any(k.access_key_id == key_id for k in user.access_keys):
                    return user.name
            return None

        def role_path(name: str) -> str | None:
            role = next((r for r in backend.roles.values() if r.name == name), None)
            return role.path if role is not None else None

        checks = iam_authz.iam_checks(session.account, action, params, user_path, key_owner,
                                      caller_user=session.user, role_path=role_path,
                                      user_tags=lambda name: user_tags(backend, name))
    for check in checks:
        decision = decide(session, check)
        if not decision.allowed:
            return False, iam_authz.denial_message(session.arn, decision)
    return True, ""


def authorize_request(body: dict[str, Any]) -> dict[str, Any]:
    """POST /_janitor/authorize {access_key_id, action, resource, context?}: IAM's
    decision for a request the emulator does not authorize itself (iam:PassRole in
    lambda:CreateFunction, the schedule's, the log group's, the alarm's requests),
    from the session's policies and SCPs, with the action, resource ARN and request
    condition keys the Service Authorization Reference gives."""
    key = expect_str(body.get("access_key_id"), "access_key_id")
    with STATE.lock:
        session = STATE.sessions.get(key)
    if session is None:
        raise ControlError(f"access_key_id: no session {key!r}")
    raw_context = expect_obj(body.get("context", {}), "context")
    context = {k.lower(): [str(v) for v in iam_authz.as_list(values)]
               for k, values in raw_context.items()}
    check = iam_authz.Check(expect_str(body.get("action"), "action"),
                            expect_str(body.get("resource"), "resource"), context)
    try:
        decision = decide(session, check)
    except iam_authz.Unsupported as e:
        raise ControlError(f"policies: {e}") from None
    return {"allowed": decision.allowed, "reason": decision.reason,
            "message": "" if decision.allowed else iam_authz.denial_message(session.arn, decision)}


def handle_control(method: str, path: str, account: str, body: dict[str, Any]) -> Any:
    """Dispatch one control request; returns the JSON answer."""
    rest = path[len(CONTROL_PREFIX):]
    head, _, tail = rest.partition("/")

    if (method, rest) == ("GET", "health"):
        return {"ok": True}
    if (method, rest) == ("POST", "reset"):
        with MOTO_LOCK:
            moto_api_internal.moto_api_backend.reset()
        STATE.reset()
        return {"ok": True}
    if (method, rest) == ("POST", "seed"):
        with MOTO_LOCK:
            return seed_users(account, body)
    if method == "POST" and head == "users" and tail:
        with MOTO_LOCK:
            return patch_user(account, tail, body)
    if method == "POST" and head == "access-keys" and tail:
        with MOTO_LOCK:
            return patch_access_key(account, tail, body)
    if rest == "credential-report/freeze" and method in ("POST", "DELETE"):
        with MOTO_LOCK:
            backend = iam_backend(account)
            if method == "DELETE":
                backend._janitor_frozen_report = None  # type: ignore[attr-defined]
                return {"ok": True}
            generated = utcnow()
            backend.credential_report = True
            backend._janitor_frozen_report = (  # type: ignore[attr-defined]
                render_credential_report(backend), generated)
        return {"generated_time": generated.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if (method, rest) == ("POST", "faults"):
        rule = parse_fault(body)
        with STATE.lock:
            STATE.faults.append(rule)
        return {"ok": True}
    if (method, rest) == ("DELETE", "faults"):
        with STATE.lock:
            STATE.faults.clear()
        return {"ok": True}
    if (method, rest) == ("POST", "latency"):
        ms = expect_int(body.get("ms"), "ms", 0, 600_000)
        with STATE.lock:
            STATE.latency_ms = ms
        return {"ok": True}
    if (method, rest) == ("GET", "calls"):
        with STATE.lock:
            return {"calls": dict(sorted(STATE.calls.items())), "total": sum(STATE.calls.values()),
                    "throttled": dict(sorted(STATE.throttled.items())),
                    "dynamodb": dict(sorted(STATE.dynamodb_calls.items())),
                    "s3": dict(sorted(STATE.s3_calls.items()))}
    if (method, rest) == ("POST", "calls/reset"):
        with STATE.lock:
            STATE.calls.clear()
            STATE.throttled.clear()
            STATE.dynamodb_calls.clear()
            STATE.s3_calls.clear()
        return {"ok": True}
    if (method, rest) == ("POST", "policies-quota"):
        quota = expect_int(body.get("max"), "max", 0, 100_000)
        with STATE.lock:
            STATE.policies_quota = quota
        return {"ok": True}
    if (method, rest) == ("POST", "access-advisor-job-duration"):
        seconds = body.get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 600:
            raise ControlError(f"seconds: expected a number of seconds from 0 to 600, got {seconds!r}")
        with STATE.lock:
            STATE.advisor_job_seconds = float(seconds)
        return {"ok": True}
    if rest == "request-rate" and method in ("POST", "DELETE"):
        if method == "DELETE":
            with STATE.lock:
                STATE.rate_limits.pop(account, None)
            return {"ok": True}
        per_second = expect_int(body.get("per_second"), "per_second", 1, 100_000)
        burst = expect_int(body.get("burst", per_second), "burst", 1, 100_000)
        with STATE.lock:
            STATE.rate_limits[account] = RateLimit(per_second=float(per_second), burst=float(burst),
                                                   tokens=float(burst), last=time.monotonic())
        return {"ok": True}
    if (method, rest) == ("POST", "access-advisor-page-cap"):
        cap = expect_int(body.get("max"), "max", 0, 1000)
        with STATE.lock:
            STATE.advisor_page_cap = cap
        return {"ok": True}
    if (method, rest) == ("POST", "chaos"):
        chaos = parse_chaos(body)
        with STATE.lock:
            STATE.chaos = chaos
        return {"ok": True}
    if (method, rest) == ("GET", "chaos"):
        with STATE.lock:
            return {"injected": dict(sorted(STATE.chaos.injected.items())) if STATE.chaos else {}}
    if (method, rest) == ("DELETE", "chaos"):
        with STATE.lock:
            injected = dict(sorted(STATE.chaos.injected.items())) if STATE.chaos else {}
            STATE.chaos = None
        return {"injected": injected}
    if (method, rest) == ("POST", "sessions"):
        return create_session(account, body)
    if (method, rest) == ("POST", "authorize"):
        return authorize_request(body)
    if (method, rest) == ("POST", "s3"):
        secure = body.get("secure_transport")
        if not isinstance(secure, bool):
            raise ControlError(f"secure_transport: expected true or false, got {secure!r}")
        with STATE.lock:
            STATE.s3_secure_transport = secure
        return {"ok": True}
    if method == "POST" and head == "access-advisor" and tail:
        services = parse_advisor_services(body)
        with STATE.lock:
            STATE.advisor[(account, tail)] = services
        return {"ok": True}
    if head == "access-advisor-fail" and tail:
        if method == "POST":
            code = expect_str(body.get("code", "ServiceFailure"), "code")
            message = expect_str(body.get("message", "The job failed to complete."), "message")
            with STATE.lock:
                STATE.advisor_fail[(account, tail)] = (code, message)
            return {"ok": True}
        if method == "DELETE":
            with STATE.lock:
                STATE.advisor_fail.pop((account, tail), None)
            return {"ok": True}
    raise ControlError(f"unknown control endpoint {method} {path}")


# --------------------------------------------------------------------------
# The middleware
# --------------------------------------------------------------------------


def json_response(start_response: Callable[..., Any], status: str, obj: Any) -> list[bytes]:
    data = json.dumps(obj).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]


def match_access_key(environ: dict[str, Any]) -> str:
    """The access key ID of a SigV4-signed request ('' if unsigned)."""
    match = CREDENTIAL_SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


class JanitorMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self.control(environ, start_response, path)
        match = CREDENTIAL_SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(4).lower() == "iam":
            return self.iam(environ, start_response)
        if match and match.group(4).lower() == "s3":
            return self.s3(environ, start_response)
        if match and match.group(4).lower() == "dynamodb":
            operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
            with STATE.lock:
                STATE.dynamodb_calls[operation] = STATE.dynamodb_calls.get(operation, 0) + 1
            denied = self.dynamodb_denied(environ, match.group(3))
            if denied is not None:
                return denied(start_response)
        return self.app(environ, start_response)

    def dynamodb_denied(self, environ: dict[str, Any], region: str) -> Any:
        """A role session's DynamoDB request (the engine's state table) is authorized
        against its policies like its IAM requests: action `dynamodb:<Operation>` on
        the table's ARN. Returns the error answer, or None to let moto serve it."""
        with STATE.lock:
            session = STATE.sessions.get(match_access_key(environ))
        if session is None:
            return None
        body = read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        try:
            table = json.loads(body or b"{}").get("TableName", "")
        except ValueError:
            table = ""
        check = iam_authz.Check(
            action=f"dynamodb:{operation}",
            resource=f"arn:aws:dynamodb:{region}:{session.account}:table/{table}",
        )
        decision = decide(session, check)
        if decision.allowed:
            return None
        message = iam_authz.denial_message(session.arn, decision)

        def answer(start_response: Callable[..., Any]) -> list[bytes]:
            return json_response(start_response, "400 Bad Request", {
                "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                "message": message,
            })
        return answer

    def s3(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Counts an S3 request; a session's is authorized like S3 does (the checks of
        iam_authz.s3_checks, decided by decide_s3) before moto serves it. Requests
        signed with any other key are served as the account root's."""
        method = environ.get("REQUEST_METHOD", "GET")
        bucket, key = s3_request_target(environ)
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""),
                                              keep_blank_values=True).items()}
        operation = s3_operation(method, bucket, key, query)
        with STATE.lock:
            STATE.s3_calls[operation] = STATE.s3_calls.get(operation, 0) + 1
            session = STATE.sessions.get(match_access_key(environ))
            secure = STATE.s3_secure_transport
        if session is None:
            return self.app(environ, start_response)
        headers = {name[len("HTTP_"):].lower().replace("_", "-"): value
                   for name, value in environ.items() if name.startswith("HTTP_X_AMZ_")}
        try:
            checks = iam_authz.s3_checks(method, bucket, key, query, headers)
        except iam_authz.Unsupported as e:
            # Deny what is not modelled rather than let moto allow it.
            return s3_error(start_response, method, 403, "AccessDenied",
                            f"User: {session.arn} is not authorized to perform {operation}: "
                            f"the emulator authorizes no such S3 request from a session ({e})")
        for check in checks:
            check.context["aws:securetransport"] = ["true" if secure else "false"]
            try:
                decision = decide_s3(session, check)
            except iam_authz.Unsupported as e:
                return s3_error(start_response, method, 500, "EmulatorUnsupported", str(e))
            if not decision.allowed:
                return s3_error(start_response, method, 403, "AccessDenied",
                                iam_authz.denial_message(session.arn, decision))
        # S3 allows it; an SSE-KMS write or read also needs KMS to allow the session.
        try:
            with MOTO_LOCK:
                use = s3_kms_use(method, bucket, key, query, headers, session.account)
        except iam_authz.Unsupported as e:
            return s3_error(start_response, method, 403, "AccessDenied",
                            f"User: {session.arn} is not authorized to perform {operation}: "
                            f"the emulator authorizes no such S3 request from a session ({e})")
        if use is not None:
            try:
                failure = authorize_s3_kms(session, use, bucket, key)
            except iam_authz.Unsupported as e:
                return s3_error(start_response, method, 500, "EmulatorUnsupported", str(e))
            if failure is not None:
                return s3_error(start_response, method, *failure)
        return self.app(environ, start_response)

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any],
                path: str) -> list[bytes]:
        try:
            # WSGI hands over PATH_INFO as latin-1-decoded bytes.
            path = path.encode("latin-1").decode("utf-8")
            query = parse_qs(environ.get("QUERY_STRING", ""))
            account = query.get("account", [DEFAULT_ACCOUNT_ID])[0]
            if not ACCOUNT_RE.match(account):
                raise ControlError(f"account: expected 12 digits, got {account!r}")
            raw = read_body(environ)
            body: Any = {}
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as e:
                    raise ControlError(f"invalid JSON body: {e}") from None
            body = expect_obj(body, "body")
            answer = handle_control(environ["REQUEST_METHOD"], path, account, body)
            return json_response(start_response, "200 OK", answer)
        except ControlError as e:
            return json_response(start_response, "400 Bad Request", {"error": str(e)})
        except Exception as e:  # noqa: BLE001 - report, don't kill the server
            return json_response(start_response, "500 Internal Server Error",
                                 {"error": f"{type(e).__name__}: {e}"})

    def iam(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = read_body(environ)
        # Put the body back for moto.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                               keep_blank_values=True).items()}
        if "Action" not in params:
            for k, v in parse_qs(environ.get("QUERY_STRING", "")).items():
                params.setdefault(k, v[0])
        action = params.get("Action", "<none>")

        # Chaos draws on the request's stable content (computed outside STATE.lock).
        stable = stable_params(params) if STATE.chaos is not None else None
        caller_account = get_account_id_from(match_access_key(environ)) if STATE.rate_limits else None
        with STATE.lock:
            limit = STATE.rate_limits.get(caller_account) if caller_account else None
            if limit is not None and not limit.take(time.monotonic()):
                STATE.throttled[action] = STATE.throttled.get(action, 0) + 1
                return iam_error(start_response, 400, "Throttling", "Rate exceeded")
            STATE.calls[action] = STATE.calls.get(action, 0) + 1
            latency = STATE.latency_ms
            fault = None
            for rule in STATE.faults:
                if rule.action == action and (rule.user is None
                                              or params.get("UserName") == rule.user):
                    rule.remaining -= 1
                    fault = rule
                    if rule.remaining <= 0:
                        STATE.faults.remove(rule)
                    break
            chaos = (STATE.chaos.draw(match_access_key(environ), action, stable)
                     if STATE.chaos is not None and stable is not None else None)
        if latency:
            time.sleep(latency / 1000.0)
        if fault is not None:
            return iam_error(start_response, fault.status, fault.code, fault.message)
        if chaos == "throttle":
            return iam_error(start_response, 400, "Throttling", "Rate exceeded")
        if chaos == "5xx":
            return iam_error(start_response, 500, "ServiceFailure",
                             "The request processing has failed because of an unknown error.", "Receiver")
        if chaos == "drop-before":
            drop_connection(environ)
            start_response("500 Dropped", [("Content-Length", "0")])
            return [b""]
        result = self.iam_effect(environ, start_response, action, params)
        if chaos == "drop-after":
            # The request took effect; its answer is lost.
            drop_connection(environ)
        return result

    def iam_effect(self, environ: dict[str, Any], start_response: Callable[..., Any],
                   action: str, params: dict[str, str]) -> Iterable[bytes]:
        with STATE.lock:
            session = STATE.sessions.get(match_access_key(environ))
        if session is not None:
            try:
                allowed, message = authorize(session, action, params)
            except iam_authz.Unsupported as e:
                return iam_error(start_response, 500, "EmulatorUnsupported", str(e), "Receiver")
            if not allowed:
                return iam_error(start_response, 403, "AccessDenied", message)
        if action in ADVISOR_ACTIONS:
            return ADVISOR_ACTIONS[action](params, start_response)
        with MOTO_LOCK:
            # The account the caller's credentials belong to, as moto resolves it.
            backend = iam_backend(get_account_id_from(match_access_key(environ)))
            with STATE.lock:
                quota = STATE.policies_quota
            if action in SERVICE_CREDENTIAL_ACTIONS:
                return SERVICE_CREDENTIAL_ACTIONS[action](backend, params, start_response)
            if action == "GetAccountSummary":
                backend.account_summary._policies_quota = quota  # type: ignore[attr-defined]
            if action == "CreatePolicy":
                local = [p for p in backend.managed_policies.values() if ":aws:policy/" not in p.arn]
                if len(local) >= quota:
                    return iam_error(start_response, 409, "LimitExceeded",
                                     f"Cannot exceed quota for PoliciesPerAccount: {quota}")
            result = self.app(environ, start_response)
            try:
                data = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            # moto ignores PasswordResetRequired on CreateLoginProfile; IAM honours it.
            if action == "CreateLoginProfile" and params.get("PasswordResetRequired", "").lower() == "true":
                user = backend.users.get(params.get("UserName", ""))
                if user is not None and user.password:
                    user.password_reset_required = True
        return [data]


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without a log line per request (use --verbose)."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    install_moto_patches()
    install_stackset_patches()
    install_s3_patches()
    install_kms_patches()
    app = JanitorMiddleware(DomainDispatcherApplication(create_backend_app))
    handler = MotoRequestHandler if args.verbose else QuietRequestHandler
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=handler)
    sys.stdout.write(f"LISTENING 127.0.0.1:{server.server_port}\n")
    sys.stdout.flush()
    # Nothing else goes to stdout (the harness stops reading it); send any
    # stray print() from moto to the log instead.
    sys.stdout = sys.stderr
    server.serve_forever()


if __name__ == "__main__":
    main()
