"""The container stack's wiring, read from docker-compose.yml without running Docker.

A typo in a variable name or a host name only shows up when the stack is started; these tests
catch it on every run of the suite instead.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url
from temporalio.common import SearchAttributeIndexedValueType

from config.settings import Settings
from domain.contract import SEARCH_ATTRIBUTES
from integrations.payments.localstripe import PAYMENT_EVENTS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

APP_SERVICES = ("migrate", "worker", "api")
ENV_PREFIX = "ORDERFLOW_"


def _environment(name: str) -> dict[str, str]:
    """Compose accepts a mapping or a list of KEY=VALUE; both read as a mapping."""
    environment = SERVICES[name].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _published_ports(name: str) -> set[int]:
    published: set[int] = set()
    for port in SERVICES[name].get("ports", []):
        if isinstance(port, dict):
            published.add(int(port["published"]))
        else:
            # [ip:]host:container[/protocol]; the host port is second from the right.
            published.add(int(str(port).split("/")[0].split(":")[-2]))
    return published


def _command(name: str) -> list[str]:
    command = SERVICES[name].get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _dockerfile(name: str) -> Path:
    build = SERVICES[name]["build"]
    if isinstance(build, str):
        return ROOT / build / "Dockerfile"
    return ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def test_stack_defines_every_service_it_needs() -> None:
    expected = {
        "postgresql",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "localstripe",
        *APP_SERVICES,
    }
    assert expected <= SERVICES.keys()


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in SERVICES.items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        # The tag follows the last ':' after the last '/' (a registry may carry a port).
        repository, _, tag = service["image"].rpartition(":")
        assert repository and "/" not in tag, f"{name}: {service['image']} has no tag"
        assert tag != "latest", f"{name}: {service['image']} floats with 'latest'"


def test_api_temporal_and_ui_ports_are_published() -> None:
    assert 8000 in _published_ports("api")
    assert 7233 in _published_ports("temporal")
    assert 8233 in _published_ports("temporal-ui")


def test_every_published_port_is_on_the_hosts_loopback() -> None:
    """Published as host:container, a port listens on every interface of the host."""
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is open to the network"


def test_orderflow_variables_are_real_settings() -> None:
    # pydantic-settings ignores unknown variables, so a misspelt one would silently do nothing.
    fields = set(Settings.model_fields)
    for name in SERVICES:
        for key in _environment(name):
            if key.startswith(ENV_PREFIX):
                assert key.removeprefix(ENV_PREFIX).lower() in fields, f"{name}: {key}"


def test_app_services_use_the_postgresql_service_with_its_credentials() -> None:
    postgres = _environment("postgresql")
    for name in APP_SERVICES:
        url = make_url(_environment(name)["ORDERFLOW_DATABASE_URL"])
        assert url.drivername == "postgresql+psycopg2", name
        assert (url.host, url.port or 5432) == ("postgresql", 5432), name
        assert url.username == postgres["POSTGRES_USER"], name
        assert url.password == postgres["POSTGRES_PASSWORD"], name
        assert url.database == postgres["POSTGRES_DB"], name


def test_app_services_reach_temporal_and_localstripe_by_service_name() -> None:
    localstripe_port = int(_command("localstripe")[_command("localstripe").index("--port") + 1])
    for name in APP_SERVICES:
        environment = _environment(name)
        assert _host_port(environment["ORDERFLOW_TEMPORAL_ADDRESS"]) == ("temporal", 7233), name
        stripe_base = urlsplit(environment["ORDERFLOW_STRIPE_API_BASE"])
        assert (stripe_base.hostname, stripe_base.port) == ("localstripe", localstripe_port), name


def test_api_listens_on_every_interface_of_its_container() -> None:
    # The default 127.0.0.1 would be unreachable through the published port.
    environment = _environment("api")
    assert environment["ORDERFLOW_API_HOST"] == "0.0.0.0"
    assert int(environment.get("ORDERFLOW_API_PORT", 8000)) in _published_ports("api")


def test_each_app_service_runs_its_orderflow_subcommand() -> None:
    for name in APP_SERVICES:
        assert _command(name)[:2] == ["orderflow", name]
    assert _command("localstripe")[0] == "localstripe"


def test_depends_on_names_only_defined_services() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", []):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_processes_wait_for_a_ready_database_and_a_migrated_schema() -> None:
    healthcheck = " ".join(SERVICES["postgresql"]["healthcheck"]["test"])
    assert "pg_isready" in healthcheck
    for name in ("temporal", "migrate"):
        condition = SERVICES[name]["depends_on"]["postgresql"]["condition"]
        assert condition == "service_healthy", name
    for name in ("worker", "api"):
        depends_on = SERVICES[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        # Workflows set the search attributes at start, so they must exist first.
        assert depends_on["temporal-setup"]["condition"] == "service_completed_successfully"


def test_built_services_use_a_dockerfile_that_runs_orderflow() -> None:
    built = [name for name, service in SERVICES.items() if "build" in service]
    assert set(APP_SERVICES) <= set(built)
    for name in built:
        dockerfile = _dockerfile(name)
        assert dockerfile.is_file(), f"{name}: {dockerfile.relative_to(ROOT)} is missing"
        assert re.search(r"^(CMD|ENTRYPOINT)\b.*\borderflow\b", dockerfile.read_text(), re.M)


def test_image_copies_every_package_the_project_ships() -> None:
    # The Dockerfile lists the packages one by one; a new package must be added there too.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY\s+(\S+)\s", dockerfile, re.M))
    assert packages <= copied


def test_search_attribute_setup_registers_exactly_the_workflow_attributes() -> None:
    registered = _environment("temporal-setup")["KEYWORD_SEARCH_ATTRIBUTES"].split()
    assert sorted(registered) == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert all(
        key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD
        for key in SEARCH_ATTRIBUTES
    )
    script = _command("temporal-setup")[-1]
    assert "--type Keyword" in script
    assert "--address temporal:7233" in script


def test_localstripe_sends_signed_payment_events_to_the_api() -> None:
    setup = _environment("localstripe-setup")
    assert setup["WEBHOOK_SECRET"] == _environment("api")["ORDERFLOW_STRIPE_WEBHOOK_SECRET"]
    assert setup["WEBHOOK_URL"] == "http://api:8000/webhooks/payments/stripe"
    assert json.loads(setup["WEBHOOK_EVENTS"]) == PAYMENT_EVENTS
