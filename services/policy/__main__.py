"""Wires the policy service: sandbox module index, profiles, checker, gRPC."""

from __future__ import annotations

from pathlib import Path

from codeact.v1 import policy_pb2_grpc
from sandbox.factory import DEV_ENV_DIR
from sandbox.runtime import describe
from services.common.cli import run
from services.common.server import Service, single_servicer
from services.common.tenants import TenantDirectory

from .checker import Checker
from .modules import ModuleIndex
from .profiles import BUILTIN_DIR, ProfileCatalog, from_table, load_directory
from .server import DESCRIPTOR, PolicyServicer
from .settings import PolicySettings


def module_index(settings: PolicySettings) -> ModuleIndex:
    """What the sandbox can import, read from its interpreter and package directory."""
    env_dir = Path(settings.sandbox_env_dir) if settings.sandbox_env_dir else DEV_ENV_DIR
    runtime = describe(Path(settings.sandbox_python), env_dir if env_dir.is_dir() else None)
    return ModuleIndex.build(
        {module for package in runtime.packages for module in package.modules},
        runtime.stdlib_modules,
        [f"{p.name} {p.version}" for p in runtime.packages],
    )


def profile_catalog(settings: PolicySettings) -> ProfileCatalog:
    builtin = load_directory(BUILTIN_DIR)
    if settings.profiles_dir:
        builtin.update(load_directory(Path(settings.profiles_dir)))
    by_tenant = {}
    if settings.tenants_file:
        for tenant, config in TenantDirectory.from_file(settings.tenants_file).tenants.items():
            by_tenant[tenant] = {
                name: from_table(name, table, f"tenants.{tenant}.policy_profiles.{name}")
                for name, table in config.policy_profiles.items()
            }
    if settings.default_profile not in builtin:
        raise ValueError(f"default_profile {settings.default_profile!r} is not a known profile")
    return ProfileCatalog(builtin, by_tenant)


def build_service(settings: PolicySettings) -> Service:
    servicer = PolicyServicer(
        Checker(module_index(settings)),
        profile_catalog(settings),
        settings.default_profile,
        settings.max_code_bytes,
    )
    return single_servicer(
        "policy", DESCRIPTOR, servicer, policy_pb2_grpc.add_PolicyServiceServicer_to_server
    )


def main(argv: list[str] | None = None) -> None:
    run(PolicySettings, build_service, argv)


if __name__ == "__main__":
    main()
