"""One report written once per session and shared by the HTML, plot and browser tests."""

import pytest

from dpqml.report import write_report

from .rows import make_protocol, make_rows


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    """``(paths, out_dir)`` of the report of the standard synthetic rows."""
    out = tmp_path_factory.mktemp("report")
    paths = write_report(make_rows(), make_protocol(tuning="none (fixed in the configuration)"), out)
    return paths, out
