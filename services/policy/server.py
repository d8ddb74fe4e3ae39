"""PolicyService over gRPC: a thin translation to the checker and the profiles."""

from __future__ import annotations

import asyncio
import hashlib

import grpc

from codeact.errors import invalid
from codeact.v1 import common_pb2, policy_pb2, policy_pb2_grpc
from services.common.audit import AuditLog
from services.common.auth import identity

from . import convert
from .checker import Checker, CheckResult, Decision
from .profiles import PolicyProfile, ProfileCatalog
from .rules import RULES, Severity
from .scanner import Finding

DESCRIPTOR = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"]
# Larger cells are checked off the event loop, so they do not stall other RPCs.
INLINE_CHECK_BYTES = 64 * 1024


class PolicyServicer(policy_pb2_grpc.PolicyServiceServicer):
    def __init__(
        self,
        checker: Checker,
        catalog: ProfileCatalog,
        default_profile: str,
        max_code_bytes: int,
        audit: AuditLog | None = None,
    ) -> None:
        self.checker = checker
        self.catalog = catalog
        self.default_profile = default_profile
        self.max_code_bytes = max_code_bytes
        self.audit = audit

    def _profile(self, tenant: str, request: policy_pb2.CheckCodeRequest) -> PolicyProfile:
        which = request.WhichOneof("profile")
        if which == "inline_profile":
            return convert.profile_from_message(request.inline_profile, "inline_profile")
        return self.catalog.get(tenant, request.profile_name or self.default_profile)

    async def CheckCode(
        self, request: policy_pb2.CheckCodeRequest, context: grpc.aio.ServicerContext
    ) -> policy_pb2.CheckCodeResponse:
        tenant = identity().tenant
        profile = self._profile(tenant, request)
        code = request.code
        if not code.strip():
            raise invalid("code", "must not be empty", "CODE_EMPTY")
        limit = min(profile.max_code_bytes or self.max_code_bytes, self.max_code_bytes)
        size = len(code.encode("utf-8", errors="surrogatepass"))
        if size > limit:
            raise invalid("code", f"is {size} bytes; the limit is {limit}", "CODE_TOO_LARGE")
        for index, module in enumerate(request.extra_modules):
            if not module.isidentifier():
                raise invalid(f"extra_modules[{index}]", f"{module!r} is not a module name")
        if request.language == common_pb2.LANGUAGE_BASH:
            return convert.result_message(_unchecked(profile, "bash"))
        if request.language not in (common_pb2.LANGUAGE_UNSPECIFIED, common_pb2.LANGUAGE_PYTHON):
            raise invalid("language", f"unknown language {request.language}")
        extra = frozenset(request.extra_modules)
        if size > INLINE_CHECK_BYTES:
            result = await asyncio.to_thread(self.checker.check, code, profile, extra)
        else:
            result = self.checker.check(code, profile, extra)
        if result.decision is Decision.DENY and self.audit is not None:
            data = code.encode("utf-8", errors="surrogatepass")
            self.audit.record(
                "policy.denied",
                tenant,
                profile=result.profile_name,
                code_sha256=hashlib.sha256(data).hexdigest(),
                code_bytes=len(data),
                rules=sorted({f.rule_id for f in result.findings if f.severity is Severity.ERROR}),
            )
        return convert.result_message(result)

    async def ListProfiles(
        self, request: policy_pb2.ListProfilesRequest, context: grpc.aio.ServicerContext
    ) -> policy_pb2.ListProfilesResponse:
        visible = self.catalog.visible(identity().tenant)
        return policy_pb2.ListProfilesResponse(
            profiles=[convert.profile_message(visible[name]) for name in sorted(visible)]
        )

    async def GetProfile(
        self, request: policy_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> policy_pb2.GetProfileResponse:
        if not request.name:
            raise invalid("name", "is required")
        profile = self.catalog.get(identity().tenant, request.name)
        return policy_pb2.GetProfileResponse(profile=convert.profile_message(profile))


def _unchecked(profile: PolicyProfile, language: str) -> CheckResult:
    finding = Finding(
        "unchecked-language",
        RULES["unchecked-language"].severity,
        f"{language} cells are not analysed by the policy service; the sandbox still contains them",
        1,
        0,
        1,
        0,
        "",
    )
    return CheckResult(Decision.ALLOW, (finding,), profile.name, 0.0)
