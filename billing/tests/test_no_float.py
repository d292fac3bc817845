"""S10: no float anywhere money flows. Scans billing/ and cdr/ (library code, not tests) for float literals, float()
calls, FloatField and float annotations; and checks every money column in the database is numeric."""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [path for app in ("billing", "cdr") for path in (ROOT / app).rglob("*.py") if "tests" not in path.parts]


def _float_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{where} float literal {node.value!r}")
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append(f"{where} float()")
        elif isinstance(node, ast.Attribute) and node.attr in ("FloatField", "total_seconds"):
            found.append(f"{where} {node.attr}")
    return found


def test_the_scan_covers_the_money_code() -> None:
    names = {path.name for path in SCANNED}
    assert {"money.py", "rating.py", "ledger.py", "calls.py", "invoices.py", "services.py", "selectors.py"} <= names


@pytest.mark.parametrize("path", SCANNED, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_float_in_billing_or_cdr_code(path: Path) -> None:
    assert _float_uses(path) == []


def test_the_scan_would_catch_a_float() -> None:
    sample = ROOT / "billing" / "tests" / "_float_sample.py"
    sample.write_text("price = 0.1\ntotal = float(price)\n")
    try:
        assert len(_float_uses(sample)) == 2
    finally:
        sample.unlink()


def test_every_amount_column_is_a_decimal() -> None:
    for app in ("billing", "cdr"):
        for model in apps.get_app_config(app).get_models():
            for field in model._meta.get_fields():
                assert not isinstance(field, models.FloatField), f"{model.__name__}.{field.name}"
                if field.name in {"amount", "charge", "balance_after", "price_per_minute", "subtotal", "total_amount"}:
                    assert isinstance(field, models.DecimalField), f"{model.__name__}.{field.name}"
