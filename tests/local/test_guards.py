"""Guards of local/ that need no stack: each tripped by an input that breaks its rule."""

from __future__ import annotations

import re
import socket

import pytest

from build.policy import load_policy
from declarations import FunctionDeclaration, Trigger
from local.sandbox import SandboxError, http, request
from local.services import Wiring, function_environment
from local.stack import invoke_running
from tests.local.cli import local_cli


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://127.0.0.1:443/",
        "http://127.0.0.10:80/",
        "file:///etc/passwd",
        "http://localhost:80/",
    ],
)
def test_http_refuses_anything_but_127_0_0_1(url: str) -> None:
    with pytest.raises(SandboxError, match=r"refusing to request .*only http://127\.0\.0\.1:"):
        http("GET", url)


def test_request_reports_a_refused_connection_as_0() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: the kernel refuses connections
        assert request(port, "GET", "/")[0] == 0


@pytest.mark.parametrize(
    "invoke", ["http://10.0.0.1:3001", "https://127.0.0.1:3001", "http://127.0.0.1"]
)
def test_the_invoke_api_of_a_state_file_must_be_local(invoke: str) -> None:
    with pytest.raises(SandboxError, match=r"not a 127\.0\.0\.1 URL"):
        invoke_running({"invoke": invoke}, "handler", {})


def test_a_running_stack_that_does_not_answer_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(SandboxError, match=re.escape(f"Invoke API at {url} does not answer")):
            invoke_running({"invoke": url}, "handler", {})


def test_a_database_function_without_a_database_is_refused() -> None:
    declaration = FunctionDeclaration(name="handler", trigger=Trigger("api"), database=True)
    with pytest.raises(SandboxError, match="function handler declares database = true"):
        function_environment(load_policy("provided.al2023"), "handler", declaration, Wiring())


@pytest.mark.parametrize("ttl", ["-1", "3601"])
def test_serve_refuses_a_ttl_api_gateway_refuses(ttl: str) -> None:
    out = local_cli("serve", "--ttl", ttl)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"local: --ttl must be 0 to 3600 seconds as API Gateway allows, got {ttl}"
    ]


def test_a_schedule_event_for_a_function_without_a_schedule_is_refused() -> None:
    out = local_cli("event", "schedule", "--function", "handler")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "local: handler is not a schedule function; schedule functions: timer"
    ]
