"""Wires the policy service: sandbox module index, profiles, checker, gRPC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codeact.v1 import policy_pb2_grpc
from sandbox.factory import DEV_ENV_DIR
from sandbox.runtime import describe
from services.common.audit import audit_log
from services.common.cli import run
from services.common.server import Service, single_servicer
from services.common.tenants import TenantDirectory, TenantsSource, tenants_source

from .checker import Checker
from .modules import ModuleIndex
from .profiles import BUILTIN_DIR, PolicyProfile, ProfileCatalog, from_table, load_directory
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


def profile_catalog(settings: PolicySettings, tenants: TenantsSource) -> ProfileCatalog:
    builtin = load_directory(BUILTIN_DIR)
    if settings.profiles_dir:
        builtin.update(load_directory(Path(settings.profiles_dir)))
    if settings.default_profile not in builtin:
        raise ValueError(f"default_profile {settings.default_profile!r} is not a known profile")
    return ProfileCatalog(builtin, tenant_profiles(tenants))


TenantProfiles = dict[str, dict[str, PolicyProfile]]


def tenant_profiles(tenants: TenantsSource) -> Callable[[], TenantProfiles]:
    """Each tenant's own profiles, parsed again when the tenants file changes
    (the tenants file refuses a change whose profiles do not parse)."""

    def parse(directory: TenantDirectory) -> TenantProfiles:
        return {
            tenant: {
                name: from_table(name, table, f"tenants.{tenant}.policy_profiles.{name}")
                for name, table in config.policy_profiles.items()
            }
            for tenant, config in directory.tenants.items()
        }

    last: tuple[TenantDirectory | None, TenantProfiles] = (None, {})

    def current() -> TenantProfiles:
        nonlocal last
        directory = tenants.current()
        if last[0] is not directory:
            last = (directory, parse(directory))
        return last[1]

    return current


def build_service(settings: PolicySettings) -> Service:
    tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
    audit = audit_log(settings, "policy", tenants)
    servicer = PolicyServicer(
        Checker(module_index(settings)),
        profile_catalog(settings, tenants),
        settings.default_profile,
        settings.max_code_bytes,
        audit,
    )
    return single_servicer(
        "policy", DESCRIPTOR, servicer, policy_pb2_grpc.add_PolicyServiceServicer_to_server, audit
    )


def main(argv: list[str] | None = None) -> None:
    run(PolicySettings, build_service, argv)


if __name__ == "__main__":
    main()
