"""docker-compose.yml is the production path; no Docker engine runs here, so check it against the project."""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OUR_SERVICES = {name: spec for name, spec in SERVICES.items() if spec.get("build") == "."}


def test_the_production_stack_has_every_part() -> None:
    assert {"postgres", "redis", "web", "worker", "beat", "ami-listener", "asterisk"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_each_command_exists_in_the_project(name: str) -> None:
    command = OUR_SERVICES[name]["command"]
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands()
    elif command[0] == "celery":
        assert command[1:3] == ["-A", "huibo"]
        assert importlib.import_module("huibo.celery").app.main == "huibo"
    elif command[0] == "gunicorn":
        module, attribute = command[1].split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    else:
        pytest.fail(f"unknown command for {name}: {command}")


def test_every_environment_variable_is_read_by_the_settings() -> None:
    settings_source = (ROOT / "huibo" / "settings.py").read_text()
    for name in OUR_SERVICES["web"]["environment"]:
        assert re.search(rf'"{name}"', settings_source), f"{name} is set in compose but never read"


def test_build_contexts_and_asterisk_configs_exist() -> None:
    assert (ROOT / "Dockerfile").is_file()
    asterisk_dockerfile = (ROOT / SERVICES["asterisk"]["build"] / "Dockerfile").read_text()
    for source in re.findall(r"^COPY\s+(\S+)", asterisk_dockerfile, flags=re.MULTILINE):
        if not source.startswith("--"):
            assert list((ROOT / "asterisk").glob(source)), f"asterisk/Dockerfile copies missing {source}"


def test_amis_port_is_not_published() -> None:
    """AMI can originate calls: it stays on the compose network (RELIABILITY.md S8)."""
    assert not any("5038" in port for port in SERVICES["asterisk"].get("ports", []))
