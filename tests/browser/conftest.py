"""Registers the ``browser`` marker (real-browser checks of the built site; see tests/browser/README.md) and
loads ``site_check.py`` once as the module ``site_check``, which the test modules here import (pytest imports
conftest.py before them, whatever its import mode)."""

import importlib.util
import sys
from pathlib import Path


def _load_site_check() -> None:
    if "site_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("site_check", Path(__file__).with_name("site_check.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["site_check"] = module
        spec.loader.exec_module(module)


_load_site_check()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: real-browser checks of the built site in headless Chromium (needs SITE_HTML)"
    )
