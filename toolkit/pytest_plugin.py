"""Pytest fixture for the mock providers, registered as a ``pytest11`` plugin.

Any test suite with the toolkit installed can ask for ``mock_providers``: a factory that
starts :class:`toolkit.mock_providers.MockProviders` with the given arguments and stops
every server it started when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from toolkit.mock_providers import MockProviders


@pytest.fixture
def mock_providers() -> Iterator[Callable[..., MockProviders]]:
    """``mock_providers(["a", "b"], script=..., decider=..., time_scale=...)`` -> running mock."""
    started: list[MockProviders] = []

    def start(*args: Any, **kwargs: Any) -> MockProviders:
        mock = MockProviders(*args, **kwargs).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()
