"""Fixtures of the unit tests."""

import pytest

from .http_server import FileServer


@pytest.fixture
def server(tmp_path):
    srv = FileServer(tmp_path / "remote")
    srv.root.mkdir()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
