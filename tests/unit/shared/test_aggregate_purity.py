"""Domain modules are pure: they import the standard library, pydantic and the project's pure modules only, and none
of those loads a database driver, a broker client or a web framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.infra import ROOT

DOMAIN_FILES = sorted(
    [
        ROOT / "services/listing/domain.py",
        ROOT / "services/listing/orders.py",
        ROOT / "services/payment/domain.py",
        ROOT / "services/refund/domain.py",
        ROOT / "services/refund/carriers.py",
        ROOT / "services/wallet/ledger.py",
        ROOT / "services/wallet/flows.py",
        ROOT / "services/wallet/escrow.py",
        ROOT / "services/wallet/withdrawals.py",
        ROOT / "services/wallet/collection_domain.py",
        *(ROOT / "services/sandbox/alipay/domain").glob("*.py"),
        *(ROOT / "services/sandbox/wechat/domain").glob("*.py"),
    ]
)
# The project's modules a domain module may use: each is pure itself (checked below).
PURE = (
    "shared.aggregate",
    "shared.channels",
    "shared.errors",
    "shared.fields",
    "shared.events",
    "shared.ids",
    "shared.money",
    "shared.protocols.alipay",
    "services.sandbox.records",
)
DRIVERS = ("motor", "pymongo", "aio_pika", "aiohttp")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def _allowed(module: str, own_package: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in ("pydantic", "__future__"):
        return True
    if module.startswith(own_package):
        return True
    return any(module == pure or module.startswith(pure + ".") for pure in PURE)


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_domain_module_imports_only_pure_modules(path: Path) -> None:
    own = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    bad = sorted(m for m in _imports(path) if not _allowed(m, own))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("module", PURE)
def test_the_pure_modules_load_no_driver(module: str) -> None:
    probe = (
        f"import sys, {module}; print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(DRIVERS)!r})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"
