from collections.abc import Iterator

import pytest
import structlog

pytest_plugins = ["tests.support.mail_fixtures", "tests.support.db_fixtures"]


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """A test that configured logging (the CLI, ``build``) leaves structlog printing to a
    stream pytest has since closed; every test starts and ends with the defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
