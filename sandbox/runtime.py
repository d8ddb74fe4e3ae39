"""What the sandbox really has: the interpreter and its installed packages.

The planner tells the model about these and the policy flags imports that
are neither installed nor in the standard library, so both read them here.
"""

from __future__ import annotations

import email.parser
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    modules: tuple[str, ...]


@dataclass(frozen=True)
class RuntimeInfo:
    python_version: str
    packages: tuple[Package, ...] = ()
    stdlib_modules: tuple[str, ...] = ()
    languages: tuple[str, ...] = field(default=("python", "bash"))


def _top_level(dist_info: Path) -> tuple[str, ...]:
    listed = dist_info / "top_level.txt"
    if listed.is_file():
        return tuple(
            sorted({line.strip() for line in listed.read_text().splitlines() if line.strip()})
        )
    modules = set()
    record = dist_info / "RECORD"
    if record.is_file():
        for line in record.read_text().splitlines():
            first = line.split(",", 1)[0].split("/", 1)
            name = first[0]
            if (
                name.endswith(".dist-info")
                or name.startswith((".", "_"))
                or name in ("bin", "share")
            ):
                continue
            if len(first) == 2:
                modules.add(name)
            elif name.endswith(".py"):
                modules.add(name[:-3])
            elif ".cpython-" in name or name.endswith(".so"):
                modules.add(name.split(".", 1)[0])
    return tuple(sorted(modules))


def installed_packages(env_dir: Path | None) -> tuple[Package, ...]:
    """Distributions in the sandbox environment, from their metadata."""
    if env_dir is None or not env_dir.is_dir():
        return ()
    packages = []
    parser = email.parser.HeaderParser()
    for dist_info in sorted(env_dir.glob("*.dist-info")):
        metadata = dist_info / "METADATA"
        if not metadata.is_file():
            continue
        headers = parser.parsestr(metadata.read_text(errors="replace"))
        packages.append(
            Package(
                headers.get("Name", dist_info.stem),
                headers.get("Version", ""),
                _top_level(dist_info),
            )
        )
    return tuple(packages)


def describe(python: Path, env_dir: Path | None) -> RuntimeInfo:
    """Ask the sandbox interpreter for its version and standard library."""
    script = (
        "import json, sys; "
        "print(json.dumps([sys.version.split()[0], sorted(sys.stdlib_module_names)]))"
    )
    out = subprocess.run(
        [str(python), "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    version, stdlib = json.loads(out)
    return RuntimeInfo(version, installed_packages(env_dir), tuple(stdlib))


def process_memory(pid: int) -> int:
    """Proportional memory of a process (shared pages split among sharers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
