"""`make typecheck` sees our calls into the Pulumi SDKs (pyproject.toml: follow_imports silent).

No provider binary runs here, so the SDKs' type hints are the only schema we can check inputs
against before AWS does. These tests prove mypy follows them: a call with a wrong input type is
reported, the same call with the right types is not. They reuse `.mypy_cache`, which
`make typecheck` warms before `make test-py` runs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is pinned in requirements.txt")

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, source: str) -> tuple[int, str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(source))
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(snippet),
        ]
    )
    return status, out + err


GOOD = """
    from __future__ import annotations
    import pulumi_aws as aws
    import pulumi_docker as docker

    aws.lambda_.Function("f", role="arn:aws:iam::1:role/r", memory_size=128, timeout=3)
    docker.Image("i", image_name="x", build=docker.DockerBuildArgs(context="."))
"""


def test_correct_calls_pass(tmp_path: Path) -> None:
    status, output = check(tmp_path, GOOD)
    assert status == 0, output


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # memory_size is an int input; a string would only fail in the provider.
        ('aws.lambda_.Function("f", role="r", memory_size="big")', 'variant of "Function"'),
        # the args class of another resource.
        (
            'aws.lambda_.Function("f", role="r", vpc_config=aws.ec2.SubnetArgs())',
            'variant of "Function"',
        ),
        ('aws.ecs.Service("s", desired_count=[1])', 'variant of "Service"'),
        ('docker.Image("i", image_name=1)', 'variant of "Image"'),
        ('aws.apigateway.RestApi("a", no_such_input=True)', 'Unexpected keyword argument "no_such'),
    ],
)
def test_wrong_input_types_are_reported(tmp_path: Path, call: str, expected: str) -> None:
    source = (
        "from __future__ import annotations\nimport pulumi_aws as aws\n"
        f"import pulumi_docker as docker\n{call}\n"
    )
    status, output = check(tmp_path, source)
    assert status == 1, output
    assert expected in output, output
