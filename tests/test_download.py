"""datasets/download.py against a tiny HTTP server on 127.0.0.1, and with --from."""
import functools
import gzip
import hashlib
import http.server
import importlib.util
import os
import threading

import numpy as np
import pytest

from conftest import MNIST, REPO, needs
from utilities import write_idx


@pytest.fixture
def download(monkeypatch, tmp_path):
    """The download module, its expected checksums replaced by those of small files made here."""
    spec = importlib.util.spec_from_file_location("download", os.path.join(REPO, "datasets", "download.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    served = tmp_path / "served"
    served.mkdir()
    sums = {}
    rng = np.random.default_rng(0)
    for name in module.FILES:
        shape = (7, 28, 28) if "images" in name else (7,)
        write_idx(served / name, rng.integers(0, 256, shape, dtype=np.uint8))
        sums[name] = hashlib.md5(gzip.decompress((served / name).read_bytes())).hexdigest()
    monkeypatch.setattr(module, "FILES", sums)
    return module, served


@pytest.fixture
def server():
    """Serve folders over HTTP on 127.0.0.1; yields a function folder -> base URL."""
    servers = []

    def serve(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_downloads_and_verifies(download, server, tmp_path, capsys):
    module, served = download
    out = tmp_path / "mnist"
    assert module.main(["--mirror", server(served), "--out", str(out)]) == 0
    for name in module.FILES:
        assert (out / name).read_bytes() == (served / name).read_bytes()
    assert not [p for p in os.listdir(out) if ".part" in p]
    assert module.main(["--mirror", server(served), "--out", str(out)]) == 0
    assert "already there and verified" in capsys.readouterr().out


def test_a_bad_mirror_falls_through_to_the_next(download, server, tmp_path):
    module, served = download
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in module.FILES:  # same names, other content: the checksum must catch it
        write_idx(bad / name, np.zeros((7, 28, 28) if "images" in name else (7,), np.uint8))
    out = tmp_path / "mnist"
    assert module.main(["--mirror", server(bad), "--mirror", server(served), "--out", str(out)]) == 0
    for name in module.FILES:
        assert (out / name).read_bytes() == (served / name).read_bytes()


def test_no_mirror_answers(download, server, tmp_path, capsys):
    module, _ = download
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "mnist"
    assert module.main(["--mirror", server(empty), "--out", str(out), "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and "404" in err
    assert not any(out.iterdir())


def test_from_a_folder(download, tmp_path):
    module, served = download
    assert module.main(["--from", str(served), "--out", str(tmp_path / "mnist")]) == 0
    assert module.main(["--from", str(tmp_path / "nowhere"), "--out", str(tmp_path / "other")]) == 1


@needs(MNIST)
def test_from_the_shared_mnist(tmp_path):
    spec = importlib.util.spec_from_file_location("download", os.path.join(REPO, "datasets", "download.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--from", MNIST, "--out", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == sorted(module.FILES)
