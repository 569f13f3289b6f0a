"""Pretrained weights: fetched through the resumable downloader, placed only when whole."""

from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace

import huggingface_hub
import pytest

from brainlatent.datasets import download
from brainlatent.errors import DataError
from brainlatent.features import weights

from .http_server import quiet


def _torchvision_file(server, data: bytes, prefix: str | None = None) -> str:
    """A file named as torchvision names its weights: <model>-<first 8 hex of sha256>.pth."""
    name = f"vgg19-{prefix or hashlib.sha256(data).hexdigest()[:8]}.pth"
    server.put(name, data)
    return f"{server.url}/{name}"


def test_a_file_resumes_from_the_bytes_a_killed_run_left(server, tmp_path, monkeypatch):
    data = os.urandom(100_000)
    url = _torchvision_file(server, data)
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "vgg19", ("url", url))
    dest = tmp_path / "weights" / "vgg19.pth"
    partial = download._partial_path(weights.staging_folder(dest), url.rsplit("/", 1)[1])
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:40_000])  # what a run killed mid-download leaves
    assert weights.download_weights("vgg19", dest, **quiet()) == dest
    assert dest.read_bytes() == data
    assert "bytes=40000-" in server.ranges
    assert not weights.staging_folder(dest).exists()


def test_a_file_whose_hash_is_not_its_names_is_refused(server, tmp_path, monkeypatch):
    url = _torchvision_file(server, os.urandom(10_000), prefix="00000000")
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "vgg19", ("url", url))
    dest = tmp_path / "vgg19.pth"
    with pytest.raises(DataError, match="does not start with 00000000.*rerun"):
        weights.download_weights("vgg19", dest, **quiet())
    assert not dest.exists()
    assert not any(p.is_file() for p in weights.staging_folder(dest).rglob("*"))


def test_the_size_is_asked_again_after_a_failed_head(server, tmp_path, monkeypatch):
    """One 503 to the HEAD that reads the size is retried, as the download's own requests."""
    data = os.urandom(1_000)
    url = _torchvision_file(server, data)
    server.fail_first[url.rsplit("/", 1)[1]] = 1
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "vgg19", ("url", url))
    assert weights.download_weights("vgg19", tmp_path / "vgg19.pth", **quiet()).read_bytes() == data


def test_a_missing_file_is_not_asked_for_again(server, tmp_path, monkeypatch):
    """A 404 to the HEAD is final, as for the downloader: no backoff before the error."""
    url = f"{server.url}/vgg19-dcbb9e9d.pth"  # never put on the server
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "vgg19", ("url", url))
    waits = []
    monkeypatch.setattr(weights.time, "sleep", waits.append)
    with pytest.raises(download.DownloadError, match=r"404"):
        weights.download_weights("vgg19", tmp_path / "vgg19.pth", **quiet())
    assert waits == []


def test_an_unreachable_server_names_the_url(tmp_path, monkeypatch):
    url = "http://127.0.0.1:9/vgg19-dcbb9e9d.pth"  # the discard port: nothing answers
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "vgg19", ("url", url))
    with pytest.raises(download.DownloadError, match=r"vgg19-dcbb9e9d\.pth: could not read"):
        weights.download_weights("vgg19", tmp_path / "vgg19.pth", **quiet())
    assert not (tmp_path / "vgg19.pth").exists()


def _hub(server, monkeypatch, files: dict[str, bytes], lfs: set[str], sha256=None, commit="c0ffee"):
    """A Hub serving ``files`` of one repository at ``commit``, LFS ones with a sha256."""
    repo = "org/model"
    siblings = []
    for name, data in files.items():
        server.put(f"{repo}/resolve/{commit}/{name}", data)
        digest = (sha256 or {}).get(name, hashlib.sha256(data).hexdigest())
        info = SimpleNamespace(size=len(data), sha256=digest) if name in lfs else None
        siblings.append(SimpleNamespace(rfilename=name, size=len(data), lfs=info))
    model_info = SimpleNamespace(sha=commit, siblings=siblings)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, r, **kw: model_info)
    monkeypatch.setattr(
        huggingface_hub,
        "hf_hub_url",
        lambda r, name, revision: f"{server.url}/{r}/resolve/{revision}/{name}",
    )
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "clip", ("huggingface", repo))


def test_a_hub_folder_holds_what_from_pretrained_reads_at_one_commit(
    server,
    tmp_path,
    monkeypatch,
):
    files = {
        "config.json": b'{"model_type": "clip"}',
        "model.safetensors": os.urandom(50_000),
        "tokenizer/vocab.txt": b"a\nb\n",
        "tf_model.h5": b"not read",
        "README.md": b"# model card",
    }
    _hub(server, monkeypatch, files, lfs={"model.safetensors", "tf_model.h5"})
    dest = tmp_path / "clip"
    weights.download_weights("clip", dest, **quiet())
    wanted = ["config.json", "model.safetensors", "tokenizer/vocab.txt"]
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == wanted
    for name in wanted:
        assert (dest / name).read_bytes() == files[name]
    assert all("/resolve/c0ffee/" in f"/{r}" for r in server.requests)
    assert not weights.staging_folder(dest).exists()


def test_a_hub_file_that_is_not_its_sha256_leaves_no_folder(server, tmp_path, monkeypatch):
    files = {"config.json": b"{}", "model.safetensors": os.urandom(5_000)}
    _hub(
        server,
        monkeypatch,
        files,
        lfs={"model.safetensors"},
        sha256={"model.safetensors": "0" * 64},
    )
    with pytest.raises(DataError, match="model.safetensors: sha256 mismatch"):
        weights.download_weights("clip", tmp_path / "clip", **quiet())
    assert not (tmp_path / "clip").exists()


def test_files_left_from_an_older_commit_are_not_mixed_in(server, tmp_path, monkeypatch):
    dest = tmp_path / "clip"
    old = weights.staging_folder(dest) / "0ld"
    old.mkdir(parents=True)
    (old / "config.json").write_bytes(b'{"old": true}')  # a run cut off before a push
    files = {"config.json": b'{"new": true}', "model.safetensors": os.urandom(5_000)}
    _hub(server, monkeypatch, files, lfs={"model.safetensors"}, commit="n3w")
    weights.download_weights("clip", dest, **quiet())
    assert (dest / "config.json").read_bytes() == files["config.json"]
    assert not weights.staging_folder(dest).exists()


def test_a_hub_that_cannot_be_reached_names_the_repository(tmp_path, monkeypatch):
    def offline(self, repo, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", offline)
    with pytest.raises(download.DownloadError, match=r"facebook/dinov2-giant: could not list"):
        weights.download_weights("dinov2", tmp_path / "dinov2", **quiet())
    assert not (tmp_path / "dinov2").exists()
