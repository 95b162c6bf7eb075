"""The Dockerfile, .dockerignore and compose.yaml agree with the code: the variables they set are
the ones the app reads, the command exists, the health check hits a served route, the user is
not root. (No container runtime can pull images on these machines; this is what can be
checked without one.)"""

from __future__ import annotations

import io
import json
import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from app_settings import variables_in_env_example, variables_read_by_config

from bot.server import make_wsgi_app

ROOT = Path(__file__).resolve().parent.parent

SECRETS = {
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "COVEO_OAUTH_CLIENT_SECRET",
    "DELETE_ORG_ENCRYPTION_KEY",
    "DELETE_ORG_AUDIT_KEY",
    "PGPASSWORD",
    "POSTGRES_PASSWORD",
}
"""Variables whose values must come from the env file, never from the deployment files."""


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as ``(INSTRUCTION, arguments)``, continuation lines joined, comments out."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    result = []
    for text in logical:
        word, _, rest = text.strip().partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _all(name: str) -> list[str]:
    return [args for word, args in _instructions() if word == name]


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _all("ENV"):
        for pair in shlex.split(args):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV {args!r}: use the KEY=value form"
            env[key] = value
    return env


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _app_services() -> dict[str, dict[str, Any]]:
    """The compose services that run this project's image (built from the Dockerfile)."""
    services = _compose()["services"]
    return {name: svc for name, svc in services.items() if svc.get("build") == "."}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # the ["KEY=value"] form
        raw = dict(item.partition("=")[::2] for item in raw)
    return {str(key): str(value) for key, value in raw.items()}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_variable_the_deployment_sets_is_read_by_the_app_and_documented() -> None:
    read, documented = variables_read_by_config(), variables_in_env_example()
    set_by_files = set(_dockerfile_env())
    for service in _app_services().values():
        set_by_files |= set(_environment(service))
    assert set_by_files  # the parsing found them
    checked = set_by_files
    assert checked - read == set(), "set by the deployment files, not read by bot/config.py"
    assert checked - documented == set(), "set by the deployment files, not in .env.example"


def test_compose_runs_two_replicas_on_postgresql_with_secrets_from_the_env_file() -> None:
    compose = _compose()
    apps = _app_services()
    assert len(apps) == 2
    assert compose["services"]["db"]["image"] == "postgres:15"
    for name, service in apps.items():
        url = _environment(service)["DELETE_ORG_DATABASE_URL"]
        assert re.fullmatch(r"postgresql://\w+@db:5432/\w+", url), (name, url)  # no password
        assert service["env_file"] == ".env", name
        assert service["depends_on"]["db"]["condition"] == "service_healthy", name
        assert "command" not in service and "entrypoint" not in service, name  # the image's
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if key in SECRETS:
                assert re.fullmatch(r"\$\{\w+(:?\?[^}]*)?\}", value), (name, key)
    # every interpolated variable is documented where the env file is explained
    example = (ROOT / ".env.example").read_text()
    for variable in re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text()):
        assert re.search(rf"^#? ?{variable}=", example, flags=re.MULTILINE), variable


def test_the_image_runs_the_console_script_as_an_unprivileged_user() -> None:
    (entrypoint,) = _all("ENTRYPOINT")
    command = json.loads(entrypoint)
    assert command[0] in _pyproject()["project"]["scripts"]
    words = [word for word, _ in _instructions()]
    users = _all("USER")
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert re.search(rf"useradd .*\b{re.escape(users[-1])}\b", " ".join(_all("RUN")))


def test_the_base_image_is_the_slim_official_python_of_the_project() -> None:
    (base,) = _all("FROM")
    version = _pyproject()["tool"]["mypy"]["python_version"]
    assert base == f"python:{version}-slim"
    assert _pyproject()["project"]["requires-python"] == f">={version}"


def test_the_image_installs_the_package_from_the_project_files() -> None:
    copied = {part.rstrip("/") for args in _all("COPY") for part in shlex.split(args)[:-1]}
    packages = {
        p.rstrip("*") for p in _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages | {"pyproject.toml", _pyproject()["project"]["readme"]} <= copied
    installs = [re.search(r"pip install ((?:--[\w=-]+ +)*)\.(\s|$)", args) for args in _all("RUN")]
    (options,) = [found.group(1).split() for found in installs if found]  # the project itself
    assert "--no-cache-dir" in options
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in copied:  # nothing the Dockerfile copies is excluded from the build context
        assert not any(fnmatch(path, pattern.rstrip("/")) for pattern in ignored), path
    for secret in (".env", "x.key", "delete-org-bot.db"):  # and no secret or database gets in
        assert any(fnmatch(secret, pattern) for pattern in ignored), secret


def test_the_health_check_hits_a_route_the_app_serves() -> None:
    (check,) = _all("HEALTHCHECK")
    options, _, command = check.partition("CMD")
    assert "--interval=" in options and "--timeout=" in options
    (path,) = re.findall(r"'(/[a-z]+)'", command)
    assert "os.environ.get('PORT', '3000')" in command  # the port the app listens on
    assert _dockerfile_env()["PORT"] == "3000" and _all("EXPOSE") == ["3000"]
    statuses: list[str] = []
    body = make_wsgi_app(None)(
        {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()},
        lambda status, headers: statuses.append(status),
    )
    assert statuses == ["200 OK"], path
    assert b"".join(body) == b"ok"
    # the replicas keep the image's check (compose does not replace it)
    assert all("healthcheck" not in service for service in _app_services().values())


def _env_file_example() -> dict[str, str]:
    """The assignments ``.env.example`` makes (uncommented ``KEY=value`` lines): what a
    ``.env`` copied from it gives the containers before the secrets are filled in."""
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_each_replica_as_compose_starts_it_has_a_valid_configuration_on_postgresql(
    tmp_path: Path,
) -> None:
    """What a replica of compose.yaml sees, in compose's order of precedence (the image's
    ``ENV``, then ``env_file: .env`` as copied from ``.env.example`` with its secrets filled
    in, then the service's ``environment``), is a configuration the app accepts, on
    PostgreSQL: the image's and the example's SQLite ``DELETE_ORG_DB`` must not conflict with
    the ``DELETE_ORG_DATABASE_URL`` compose sets (they did: "both are set", exit 2)."""
    from cryptography.fernet import Fernet

    from bot.config import load_config

    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-test-compose",
        "SLACK_SIGNING_SECRET": "compose-test-signing-secret",
        "DELETE_ORG_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PGPASSWORD": "compose-test-password",
    }
    for name, service in _app_services().items():
        environ = {**_dockerfile_env(), **_env_file_example(), **secrets, **_environment(service)}
        config = load_config(environ)
        assert config.database_url, name
        assert config.database_url.startswith("postgresql://"), name
