"""The image tests run beside the local stack: the same session fixture as the integration
tests (one stack per session, reused when the integration tests already started it)."""

from tests.integration.conftest import http, stack  # noqa: F401
