"""Registers the ``browser`` marker (real-browser checks of the built site; see tests/browser/README.md)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: real-browser checks of the built site in headless Chromium (needs SITE_HTML)"
    )
