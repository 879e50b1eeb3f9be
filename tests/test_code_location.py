"""The code location loads the way `dagster dev` loads it: from workspace.yaml, in both environments."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "environment",
    [{}, {"NETFLIX_ENV": "prod", "GCP_PROJECT": "netflix-prod"}],
    ids=["local", "prod"],
)
def test_workspace_code_location_validates(environment: dict[str, str]):
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
