"""Synchronous client of PolicyService: check code before running it."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from .settings import ConnectionSettings
from .status import from_rpc_error
from .v1 import common_pb2, policy_pb2, policy_pb2_grpc

DECISIONS = {
    common_pb2.DECISION_ALLOW: "ALLOW",
    common_pb2.DECISION_WARN: "WARN",
    common_pb2.DECISION_DENY: "DENY",
}


class PolicyClient:
    """Findings and a decision (ALLOW, WARN, DENY) for a piece of code."""

    def __init__(self, channel: grpc.Channel, settings: ConnectionSettings) -> None:
        self.stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self.settings = settings

    def check(
        self,
        code: str,
        profile: str | policy_pb2.PolicyProfile = "",
        extra_modules: Iterable[str] = (),
        language: common_pb2.Language.ValueType = common_pb2.LANGUAGE_PYTHON,
    ) -> policy_pb2.CheckCodeResponse:
        """Check code against a named profile (server default when empty) or an inline one."""
        request = policy_pb2.CheckCodeRequest(
            code=code, language=language, extra_modules=list(extra_modules)
        )
        if isinstance(profile, str):
            request.profile_name = profile
        else:
            request.inline_profile.CopyFrom(profile)
        try:
            reply: policy_pb2.CheckCodeResponse = self.stub.CheckCode(
                request, timeout=self.settings.timeout, metadata=self.settings.metadata()
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return reply

    def profiles(self) -> list[policy_pb2.PolicyProfile]:
        try:
            reply = self.stub.ListProfiles(
                policy_pb2.ListProfilesRequest(),
                timeout=self.settings.timeout,
                metadata=self.settings.metadata(),
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return list(reply.profiles)
