"""Every attack runs against both engines: bubblewrap, and aqe's own namespaces (the fallback for
machines without bubblewrap). An engine this machine cannot run is skipped with the reason; CI
installs bubblewrap and runs as root, so both run there."""

from __future__ import annotations

import uuid

import pytest

from aqe.sandbox.engines import ENGINE_BWRAP, ENGINE_NAMESPACES, isolation_support
from aqe.sandbox.runner import SandboxResult, SandboxRunner, SandboxSpec


class RecordingRunner(SandboxRunner):
    """A runner that keeps every result, so a test can check the runs it did not start itself."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.results: list[SandboxResult] = []

    def run(self, spec: SandboxSpec, cancel=None) -> SandboxResult:  # type: ignore[no-untyped-def]
        result = super().run(spec, cancel)
        self.results.append(result)
        return result


@pytest.fixture(params=[ENGINE_BWRAP, ENGINE_NAMESPACES])
def engine(request: pytest.FixtureRequest) -> str:
    support = isolation_support(request.param)
    if support.engine != request.param:
        pytest.skip(f"the {request.param} engine cannot run here: {support.detail}")
    return request.param


@pytest.fixture
def runner(engine: str) -> RecordingRunner:
    return RecordingRunner(trusted=True, engine=engine)


@pytest.fixture
def token() -> str:
    return f"aqe-attack-{uuid.uuid4().hex}"
