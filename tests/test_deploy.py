"""docker-compose.yml and the Dockerfile, checked by reading (no Docker engine here): services, pinned images,
health checks, and commands and settings that the CLI and Settings actually accept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rag.cli import build_parser
from rag.config import Settings
from tests.support import env_names

REPO = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_services_are_wired_and_healthchecked() -> None:
    services = _compose()["services"]
    assert {"qdrant", "api", "ingest-worker"} <= set(services)
    image = services["qdrant"]["image"]
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", image.split()[0]), image
    assert "qdrant_data:/qdrant/storage" in services["qdrant"]["volumes"]
    for name in ("qdrant", "api"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "ingest-worker"):
        service = services[name]
        assert service["environment"]["RAG_QDRANT__URL"] == "http://qdrant:6333"
        assert service["depends_on"]["qdrant"]["condition"] == "service_healthy"
        assert "rag_data:/data" in service["volumes"]


def test_compose_commands_and_settings_are_ones_the_code_accepts() -> None:
    services = _compose()["services"]
    known = env_names(Settings)
    for name in ("api", "ingest-worker"):
        command = services[name]["command"]
        assert command[0] == "rag"
        build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or flag
        assert set(services[name]["environment"]) <= known, name
    assert services["api"]["command"][1] == "serve"
    assert "RAG_API__KEYS" in services["api"]["environment"]  # the API must not run keyless off loopback


def test_dockerfile_runs_the_api_as_an_unprivileged_user() -> None:
    text = (REPO / "Dockerfile").read_text()
    cmd = re.search(r"^CMD \[(.*)\]$", text, flags=re.M)
    assert cmd is not None
    args = [a.strip().strip('"') for a in cmd.group(1).split(",")]
    assert args[:2] == ["rag", "serve"]
    build_parser().parse_args(args[1:])
    assert re.search(r"^USER rag$", text, flags=re.M)
    assert "torch==2.14.1 torchvision==0.29.1 torchcodec==0.16.0" in text
