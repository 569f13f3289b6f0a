"""Tests for brainlatent.datasets.download against a local HTTP server and the real manifests.

The server binds 127.0.0.1 on a free port and serves files from tmp_path; no test
reaches any other address.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import socket
import threading
import traceback
import warnings
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from brainlatent.datasets import download, manifest_hashes
from brainlatent.datasets.download import DownloadError, download_files, verify_file
from brainlatent.datasets.manifest import (
    MANIFEST_COLUMNS,
    glob_to_regex,
    read_manifest,
    read_supplement,
    select_files,
    supplement_path,
    things_meg_patterns,
)
from brainlatent.errors import DataError

from ..conftest import REPO, RESOURCES, shared_root
from .http_server import quiet

DATASETS = shared_root() / "datasets" if shared_root() is not None else None
needs_shared = pytest.mark.skipif(DATASETS is None, reason="shared/datasets not found")

# --------------------------------------------------------------------------- local server


def _row(path: str, data: bytes, url: str, algo: str | None = "sha256", **over) -> dict:
    row = {
        "path": path,
        "size": len(data),
        "hash_algorithm": algo or "",
        "hash": hashlib.new(algo, data).hexdigest() if algo else "",
        "url": url,
    }
    row.update(over)
    return row


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- download


def test_download_verifies_and_places_files(server, tmp_path):
    blobs = {
        "dataset_description.json": b'{"Name": "x"}',
        "sub-01/ses-01/meg/run-01_meg.ds/run-01.meg4": os.urandom(300_000),
        "sourcedata/body part-related/0.jpg": b"\xff\xd8 jpeg",  # space, as in THINGS-MEG
    }
    algos = ["", "sha256", "md5"]
    rows = [
        _row(name, data, server.put(name, data), algo)
        for (name, data), algo in zip(blobs.items(), algos, strict=True)
    ]
    dest = tmp_path / "local"
    paths = download_files(pd.DataFrame(rows), dest, **quiet())
    assert paths == [dest / name for name in blobs]
    for name, data in blobs.items():
        assert (dest / name).read_bytes() == data
    assert _files_under(dest) == sorted(blobs)  # no temporary files left behind
    assert len(server.requests) == 3


def test_present_good_file_is_skipped_without_request(server, tmp_path):
    data = b"already here"
    row = _row("a/b.tsv", data, server.put("a/b.tsv", data), "md5")
    dest = tmp_path / "local"
    (dest / "a").mkdir(parents=True)
    (dest / "a/b.tsv").write_bytes(data)
    assert download_files(pd.DataFrame([row]), dest, **quiet()) == [dest / "a/b.tsv"]
    assert server.requests == []


def test_present_bad_file_raises_and_is_kept(server, tmp_path):
    data = b"the real content"
    row = _row("x.bin", data, server.put("x.bin", data))
    dest = tmp_path / "local"
    dest.mkdir()
    (dest / "x.bin").write_bytes(b"the REAL content")  # same size, other bytes
    with pytest.raises(DataError, match=r"x\.bin: sha256 mismatch") as info:
        download_files(pd.DataFrame([row]), dest, **quiet())
    assert f"delete it to download it again from {row['url']}" in str(info.value)
    assert (dest / "x.bin").read_bytes() == b"the REAL content"
    assert server.requests == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    data = os.urandom(10_000)
    url = server.put("sub-01/big.meg4", data[:4_000])  # server has a truncated copy
    row = _row("sub-01/big.meg4", data, url)
    dest = tmp_path / "local"
    with pytest.raises(DataError, match=r"big\.meg4: truncated: .*4000.*10000") as info:
        download_files(pd.DataFrame([row]), dest, **quiet())
    assert not isinstance(info.value, DownloadError)
    assert info.value.path == str(dest / "sub-01/big.meg4")
    assert _files_under(dest) == []
    assert len(server.requests) == 1  # wrong content is not retried


def test_short_stream_without_length_is_retried_and_kept(server, tmp_path):
    """Without Content-Length a closed connection looks like the end of the body: no proof of
    bad content, so it is retried, and what came stays to resume (here it never completes)."""
    data = os.urandom(5_000)
    url = server.put("raw.bin", data[:1_234])
    server.no_length.add("raw.bin")
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match=r"raw\.bin: download failed after 2 attempts") as info:
        download_files(pd.DataFrame([_row("raw.bin", data, url, None)]), dest, **quiet(retries=1))
    assert "connection closed after 1234 of 5000 bytes" in str(info.value)
    assert url in str(info.value)
    assert server.ranges == [None, "bytes=1234-"]  # Range ignored: the retry started over
    assert (dest / ".partial/raw.bin.part").read_bytes() == data[:1_234]


def test_broken_transfer_without_length_resumes_next_run(server, tmp_path):
    data = os.urandom(50_000)
    row = _row("sub-01/events.tsv", data, server.put("sub-01/events.tsv", data), None)
    server.no_length.add("sub-01/events.tsv")
    server.cut_once["sub-01/events.tsv"] = 20_000
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match="connection closed after 20000 of 50000 bytes"):
        download_files(pd.DataFrame([row]), dest, **quiet(retries=0))
    assert (dest / ".partial/sub-01/events.tsv.part").read_bytes() == data[:20_000]
    server.no_length.clear()  # the next run meets a server that honours Range
    download_files(pd.DataFrame([row]), dest, **quiet(retries=0))
    assert server.ranges == [None, "bytes=20000-"]
    assert (dest / "sub-01/events.tsv").read_bytes() == data
    assert _files_under(dest) == ["sub-01/events.tsv"]


def test_hash_mismatch_leaves_nothing(server, tmp_path):
    data = b"0123456789" * 100
    url = server.put("f.nii.gz", data[::-1])  # same size, other bytes
    row = _row("f.nii.gz", data, url, "md5")
    dest = tmp_path / "local"
    with pytest.raises(DataError, match="md5 mismatch") as info:
        download_files(pd.DataFrame([row]), dest, **quiet())
    message = str(info.value)
    assert message.startswith(str(dest / "f.nii.gz"))
    assert row["hash"] in message and hashlib.md5(data[::-1]).hexdigest() in message
    assert message.endswith(f"(downloaded from {url})")  # upstream changed, or a broken mirror
    assert _files_under(dest) == []


def test_404_names_url_and_is_not_retried(server, tmp_path):
    url = f"{server.url}/missing/file.tsv?versionId=abc"
    row = _row("missing/file.tsv", b"x", url, None)
    with pytest.raises(DownloadError, match="404") as info:
        download_files(pd.DataFrame([row]), tmp_path / "local", **quiet(retries=3))
    assert url in str(info.value)
    assert "missing/file.tsv" in info.value.path
    assert server.requests == ["missing/file.tsv"]
    assert _files_under(tmp_path / "local") == []


def test_busy_server_is_retried(server, tmp_path):
    data = b"eventually"
    row = _row("e.tsv", data, server.put("e.tsv", data))
    server.fail_first["e.tsv"] = 2
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **quiet(retries=2))
    assert (dest / "e.tsv").read_bytes() == data
    assert server.requests == ["e.tsv"] * 3


def test_gives_up_after_retries_naming_url_and_file(server, tmp_path):
    data = b"never"
    url = server.put("n.tsv", data)
    server.fail_first["n.tsv"] = 10
    with pytest.raises(DownloadError, match=r"n\.tsv: download failed after 2 attempts") as info:
        download_files(pd.DataFrame([_row("n.tsv", data, url)]), tmp_path / "l", **quiet(retries=1))
    assert "503" in str(info.value) and url in str(info.value)


def test_connection_refused_is_a_download_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(DownloadError, match="after 2 attempts") as info:
        download_files(pd.DataFrame([_row("x.bin", b"x", url)]), tmp_path, **quiet(retries=1))
    assert url in str(info.value)


def test_progress_bars_go_to_stderr(server, tmp_path, capsys):
    data = b"bar"
    row = _row("p.txt", data, server.put("p.txt", data))
    download_files(pd.DataFrame([row]), tmp_path / "local", progress=True, backoff=0)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "files" in captured.err


# ------------------------------------------------------------------- resume, parallel, safety


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    data = os.urandom(200_000)
    row = _row("sub-01/big.meg4", data, server.put("sub-01/big.meg4", data))
    server.cut_once["sub-01/big.meg4"] = 70_000
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **quiet(retries=1))
    assert server.ranges == [None, "bytes=70000-"]
    assert (dest / "sub-01/big.meg4").read_bytes() == data
    assert _files_under(dest) == ["sub-01/big.meg4"]  # the partial file is gone


def test_partial_file_survives_a_failed_run_and_resumes(server, tmp_path):
    data = os.urandom(100_000)
    row = _row("a/b.bin", data, server.put("a/b.bin", data), "md5")
    server.cut_once["a/b.bin"] = 30_000
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match="after 1 attempt:"):
        download_files(pd.DataFrame([row]), dest, **quiet(retries=0))
    assert (dest / ".partial/a/b.bin.part").read_bytes() == data[:30_000]
    assert not (dest / "a/b.bin").exists()
    download_files(pd.DataFrame([row]), dest, **quiet(retries=0))
    assert server.ranges == [None, "bytes=30000-"]
    assert (dest / "a/b.bin").read_bytes() == data
    assert not (dest / ".partial").exists()


def test_wrong_hash_after_resume_keeps_nothing(server, tmp_path):
    data = os.urandom(50_000)
    wrong = data[:-1] + bytes([data[-1] ^ 1])  # same size, last byte differs
    row = _row("w.bin", data, server.put("w.bin", wrong))
    server.cut_once["w.bin"] = 20_000
    dest = tmp_path / "local"
    with pytest.raises(DataError, match="sha256 mismatch") as info:
        download_files(pd.DataFrame([row]), dest, **quiet(retries=1))
    assert not isinstance(info.value, DownloadError)
    assert info.value.path == str(dest / "w.bin")
    assert row["hash"] in str(info.value) and hashlib.sha256(wrong).hexdigest() in str(info.value)
    assert server.ranges == [None, "bytes=20000-"]
    assert _files_under(dest) == []  # neither the target nor the partial file


@pytest.mark.parametrize("kind", ["text/html; charset=utf-8", "application/xml"])
def test_page_answering_a_resume_keeps_the_partial(server, tmp_path, kind):
    """A 200 error page (wrong length) instead of the rest of the file: nothing of it is
    written, the partial bytes stay good, so it is retried and named, not called truncated."""
    data = os.urandom(100_000)
    url = server.put("sub-01/big.meg4", data)
    row = _row("sub-01/big.meg4", data, url)
    server.cut_once["sub-01/big.meg4"] = 40_000
    server.page_for_range["sub-01/big.meg4"] = kind
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match=r"big\.meg4: download failed after 3 attempts") as info:
        download_files(pd.DataFrame([row]), dest, **quiet(retries=2))
    message = str(info.value)
    assert f"Content-Type: {kind}" in message and url in message
    assert "truncated" not in message
    assert server.ranges == [None, "bytes=40000-", "bytes=40000-"]
    assert (dest / ".partial/sub-01/big.meg4.part").read_bytes() == data[:40_000]
    server.page_for_range.clear()
    download_files(pd.DataFrame([row]), dest, **quiet())
    assert server.ranges[-1] == "bytes=40000-"
    assert (dest / "sub-01/big.meg4").read_bytes() == data


def test_html_page_without_length_is_not_kept_as_the_file(server, tmp_path):
    """Without Content-Length an error page cannot be told by its length; its HTML type tells
    it is not the file: retried, and never kept in front of the partial bytes to resume."""
    data = os.urandom(20_000)
    url = server.put("sub-01/channels.tsv", data)
    row = _row("sub-01/channels.tsv", data, url, None)  # size-only: a kept page would pass
    server.html_no_length.add("sub-01/channels.tsv")
    dest = tmp_path / "local"
    partial = dest / ".partial/sub-01/channels.tsv.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:5_000])  # from an earlier run
    with pytest.raises(
        DownloadError, match="after 2 attempts: HTTP 200 answered with a page"
    ) as info:
        download_files(pd.DataFrame([row]), dest, **quiet(retries=1))
    assert "(Content-Type: text/html; charset=utf-8, no Content-Length)" in str(info.value)
    assert url in str(info.value)
    assert server.ranges == ["bytes=5000-"] * 2
    assert partial.read_bytes() == data[:5_000]
    partial.unlink()  # a fresh download: nothing kept at all
    with pytest.raises(DownloadError, match="answered with a page"):
        download_files(pd.DataFrame([row]), dest, **quiet(retries=0))
    assert _files_under(dest) == []
    server.html_no_length.clear()
    download_files(pd.DataFrame([row]), dest, **quiet())
    assert (dest / "sub-01/channels.tsv").read_bytes() == data


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    data = os.urandom(80_000)
    row = _row("r.bin", data, server.put("r.bin", data))
    server.cut_once["r.bin"] = 50_000
    server.no_range.add("r.bin")
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **quiet(retries=1))
    assert server.ranges == [None, "bytes=50000-"]  # asked to resume, got the whole file: 200
    assert (dest / "r.bin").read_bytes() == data


def test_connection_dropping_often_still_completes(server, tmp_path, monkeypatch):
    """A transfer that breaks every 60 kB but resumes each time: each attempt that brought
    bytes restarts the retry count and the backoff, so ``retries=1`` does not end it."""
    data = os.urandom(600_000)
    row = _row("sub-01/big.meg4", data, server.put("sub-01/big.meg4", data))
    server.cut_every["sub-01/big.meg4"] = 60_000
    real_wait, waits = threading.Event.wait, []

    def wait(self, timeout=None):
        if timeout is not None:  # the backoff (other waits here have none)
            waits.append(timeout)
        return real_wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", wait)
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **quiet(retries=1, backoff=0.01))
    assert server.ranges == [None] + [f"bytes={n}-" for n in range(60_000, 600_000, 60_000)]
    assert waits == [0.01] * 9  # not doubling
    assert (dest / "sub-01/big.meg4").read_bytes() == data


def test_a_busy_servers_retry_after_is_waited_for(server, tmp_path, monkeypatch):
    """503 with Retry-After: the wait is the server's, not the (shorter) backoff."""
    data = os.urandom(1_000)
    row = _row("busy.bin", data, server.put("busy.bin", data))
    server.fail_first["busy.bin"] = 2
    server.retry_after["busy.bin"] = "1"
    real_wait, waits = threading.Event.wait, []

    def wait(self, timeout=None):
        if timeout is not None:
            waits.append(timeout)
        return real_wait(self, 0 if timeout is not None else timeout)  # no need to sleep

    monkeypatch.setattr(threading.Event, "wait", wait)
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **quiet(retries=3, backoff=0.01))
    assert waits == [1.0, 1.0]  # backoff 0.01 then 0.02, each raised to the server's 1 s
    assert (dest / "busy.bin").read_bytes() == data
    server.fail_first["never.bin"] = 10
    server.retry_after["never.bin"] = "86400"  # come back tomorrow: capped, and named
    row = _row("never.bin", data, server.put("never.bin", data))
    waits.clear()
    with pytest.raises(DownloadError, match=r"HTTP 503 busy \(Retry-After: 86400 s\)"):
        download_files(pd.DataFrame([row]), dest, **quiet(retries=2, backoff=0.01))
    assert waits == [download.RETRY_AFTER_MAX] * 2


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 GMT
    assert download.retry_after_seconds("120", now) == 120.0
    assert download.retry_after_seconds("Tue, 14 Nov 2023 22:15:20 GMT", now) == 120.0
    assert download.retry_after_seconds("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0  # past
    for junk in (None, "", "soon", "-5", "1.5", "\u00b2"):  # a superscript two is no digit
        assert download.retry_after_seconds(junk, now) is None


def test_trickling_server_is_given_up_on_at_the_attempt_limit(server, tmp_path, monkeypatch):
    """Every attempt brings a few bytes, so the retries never run out: the overall limit per
    file ends the run, naming it, with the bytes kept to resume."""
    monkeypatch.setattr(download, "_MAX_ATTEMPTS", 5)
    data = os.urandom(1_000)
    url = server.put("t.bin", data)
    server.cut_every["t.bin"] = 10
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match=r"t\.bin: download failed after 5 attempts") as info:
        download_files(pd.DataFrame([_row("t.bin", data, url)]), dest, **quiet(retries=2))
    assert "kept breaking off, and 5 is the most a run tries a file" in str(info.value)
    assert url in str(info.value)
    assert len(server.requests) == 5
    assert (dest / ".partial/t.bin.part").read_bytes() == data[:50]


@pytest.mark.parametrize("bad", ["../evil.txt", "/etc/passwd", "a/../../evil.txt", "a\\b.txt"])
def test_path_traversal_is_refused_before_any_download(server, tmp_path, bad):
    good = _row("ok.txt", b"ok", server.put("ok.txt", b"ok"))
    rows = pd.DataFrame([good, _row(bad, b"evil", server.put("evil.txt", b"evil"))])
    dest = tmp_path / "box" / "local"
    with pytest.raises(DataError, match=r"manifest row 1 .*must be relative") as info:
        download_files(rows, dest, **quiet())
    assert repr(bad) in str(info.value)
    assert server.requests == []
    assert not (tmp_path / "box").exists()
    manifest = tmp_path / "manifest.tsv"
    rows.to_csv(manifest, sep="\t", index=False)
    with pytest.raises(DataError, match="line 3 .*must be relative"):
        read_manifest(manifest)


def test_second_run_downloads_nothing(server, tmp_path):
    blobs = {f"d/{i}.bin": os.urandom(1_000 + i) for i in range(3)}
    rows = pd.DataFrame([_row(name, data, server.put(name, data)) for name, data in blobs.items()])
    dest = tmp_path / "local"
    download_files(rows, dest, **quiet())
    server.requests.clear()
    assert download_files(rows, dest, **quiet()) == [dest / name for name in blobs]
    assert server.requests == []


def test_parallel_download_with_three_workers(server, tmp_path):
    blobs = {f"sub-{i:02d}/x.bin": os.urandom(20_000 + 997 * i) for i in range(7)}
    rows = pd.DataFrame([_row(name, data, server.put(name, data)) for name, data in blobs.items()])
    server.cut_once["sub-02/x.bin"] = 5_000
    server.fail_first["sub-04/x.bin"] = 1
    dest = tmp_path / "local"
    assert download_files(rows, dest, **quiet(workers=3)) == [dest / name for name in blobs]
    for name, data in blobs.items():
        assert (dest / name).read_bytes() == data
    assert _files_under(dest) == sorted(blobs)
    assert sorted(server.requests) == sorted([*blobs, "sub-02/x.bin", "sub-04/x.bin"])


def test_files_refused_or_wrong_do_not_stop_the_others(server, tmp_path):
    """A stale URL's 404 or a wrong hash is that file's problem: every other file is
    fetched, and one error names each that failed; nothing half-written is placed."""
    blobs = {f"{i}.bin": os.urandom(10_000) for i in range(8)}
    rows = [_row(name, data, server.put(name, data)) for name, data in blobs.items()]
    rows[2]["url"] = f"{server.url}/gone.bin"
    rows[5]["hash"] = "0" * 32
    rows[6]["url"] = f"{server.url}/also-gone.bin"
    dest = tmp_path / "local"
    with pytest.raises(DataError) as info:
        download_files(pd.DataFrame(rows), dest, **quiet(workers=3))
    message, failed = str(info.value), {"2.bin", "5.bin", "6.bin"}
    first = Path(info.value.path).name  # whichever failed first, by its full path
    assert first in failed and "2 other file(s) failed on their own too" in message
    for name in failed - {first}:
        assert f"; {name}: " in message or f": {name}: " in message
    assert message.count("HTTP 404") == 2 and "5.bin: sha256 mismatch" in message
    assert _files_under(dest) == sorted(set(blobs) - {"2.bin", "5.bin", "6.bin"})
    for name in _files_under(dest):
        assert (dest / name).read_bytes() == blobs[name]


def test_a_network_failing_after_the_retries_stops_the_others(server, tmp_path):
    """Busy past the retries says nothing about one file: the files after it are not asked."""
    blobs = {f"{i}.bin": os.urandom(1_000) for i in range(6)}
    rows = [_row(name, data, server.put(name, data)) for name, data in blobs.items()]
    server.fail_first["0.bin"] = 10
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match=r"0\.bin: download failed after 2 attempts"):
        download_files(pd.DataFrame(rows), dest, **quiet(workers=1, retries=1))
    # the one worker may take the next file before the failure is seen, never the rest
    assert server.requests[:2] == ["0.bin", "0.bin"] and set(server.requests) <= {"0.bin", "1.bin"}
    assert set(_files_under(dest)) <= {"1.bin"}


def test_a_batch_stopped_by_the_network_still_names_the_files_that_failed_before(server, tmp_path):
    """A rerun meets the refused file again: the error that stopped the batch says so."""
    blobs = {f"{i}.bin": os.urandom(1_000) for i in range(4)}
    rows = [_row(name, data, server.put(name, data)) for name, data in blobs.items()]
    rows[0]["url"] = f"{server.url}/gone.bin"
    server.fail_first["1.bin"] = 10
    with pytest.raises(DownloadError, match=r"1\.bin: download failed after 2 attempts") as info:
        download_files(pd.DataFrame(rows), tmp_path / "local", **quiet(workers=1, retries=1))
    (note,) = info.value.__notes__
    assert note.startswith("Before the batch stopped, 1 file(s) had failed on their own: 0.bin: ")
    assert "HTTP 404" in note
    assert "0.bin: " in "".join(traceback.format_exception(info.value))


def test_offline_message_names_url_and_says_rerun(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/sub-01/x.bin"
    row = _row("sub-01/x.bin", b"x", url)
    with pytest.raises(DownloadError, match="failed after 3 attempts: ConnectionError") as info:
        download_files(pd.DataFrame([row]), tmp_path, **quiet(retries=2))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "sub-01/x.bin"))
    assert url in message and "rerun" in message
    assert _files_under(tmp_path) == []  # no empty partial file left


def test_partial_file_locked_by_another_process_is_refused(server, tmp_path):
    """That file only: the batch's other files are fetched meanwhile."""
    fcntl = pytest.importorskip("fcntl")
    data = b"shared cache"
    row = _row("s.bin", data, server.put("s.bin", data))
    other_row = _row("t.bin", b"other", server.put("t.bin", b"other"))
    partial = tmp_path / ".partial/s.bin.part"
    partial.parent.mkdir()
    with open(partial, "a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            download_files(pd.DataFrame([row, other_row]), tmp_path, **quiet(workers=1))
    assert server.requests == ["t.bin"] and (tmp_path / "t.bin").read_bytes() == b"other"
    download_files(pd.DataFrame([row]), tmp_path, **quiet())
    assert (tmp_path / "s.bin").read_bytes() == data


def test_every_server_error_is_retried_but_not_implemented(server, tmp_path):
    """A CDN's 522 (or a 507) is the server's trouble, retried like a 503; 501 is final."""
    for status, requests in ((522, 2), (507, 2), (501, 1)):
        name = f"e{status}.bin"
        row = _row(name, b"data", server.put(name, b"data"))
        server.fail_first[name], server.fail_status[name] = 1, status
        if status == 501:
            with pytest.raises(DownloadError, match=f"HTTP 501 failed for .*{name}"):
                download_files(pd.DataFrame([row]), tmp_path, **quiet())
        else:
            download_files(pd.DataFrame([row]), tmp_path, **quiet())
            assert (tmp_path / name).read_bytes() == b"data"
        assert server.requests.count(name) == requests


def test_resuming_into_a_file_of_another_size_is_a_wrong_file_not_a_network_error(server, tmp_path):
    """The server's file changed size since the manifest (an unversioned URL): its answer to
    the Range request states the total, so the kept bytes are dropped and the file fails
    alone, as a fresh download of it would, where it had stopped every rerun's batch."""
    data = os.urandom(12_000)
    row = _row("x.tsv", data[:10_000], server.put("x.tsv", data))
    good = _row("y.tsv", b"fine", server.put("y.tsv", b"fine"))
    partial = tmp_path / ".partial/x.tsv.part"
    partial.parent.mkdir()
    partial.write_bytes(data[:4_000])
    with pytest.raises(DataError, match="wrong size: server's file is 12000 bytes, manifest ex"):
        download_files(pd.DataFrame([row, good]), tmp_path, **quiet())
    assert not partial.exists() and (tmp_path / "y.tsv").read_bytes() == b"fine"
    assert server.requests.count("x.tsv") == 1  # not retried as a network error


def test_a_write_error_reported_at_fsync_keeps_the_partial_and_names_the_file(
    server, tmp_path, monkeypatch
):
    """NFS with quotas reports EDQUOT at fsync: nothing is placed, the bytes stay for the
    next run, which finishes the file."""
    data = os.urandom(5_000)
    row = _row("q.bin", data, server.put("q.bin", data))

    def full(fd):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(download.os, "fsync", full)
    with pytest.raises(DownloadError, match=r"q\.bin.*Disk quota exceeded.*5000 bytes"):
        download_files(pd.DataFrame([row]), tmp_path, **quiet())
    assert not (tmp_path / "q.bin").exists()
    assert (tmp_path / ".partial/q.bin.part").stat().st_size == 5_000
    monkeypatch.undo()
    download_files(pd.DataFrame([row]), tmp_path, **quiet())
    assert (tmp_path / "q.bin").read_bytes() == data


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP])
def test_filesystem_without_locks_downloads_unlocked_with_one_warning(
    server, tmp_path, monkeypatch, code
):
    """Lustre mounted without flock (ENOSYS), NFS without lockd (ENOLCK): flock fails for
    every file there, which must not fail every download; one warning names the folder."""
    fcntl = pytest.importorskip("fcntl")

    def flock(fd, operation):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", flock)
    blobs = {"a.bin": os.urandom(3_000), "sub/b.bin": os.urandom(2_000)}
    rows = [_row(name, data, server.put(name, data)) for name, data in blobs.items()]
    dest = tmp_path / "local"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        download_files(pd.DataFrame(rows), dest, **quiet(workers=1))
        download_files(pd.DataFrame(rows[:1]), dest / "again", **quiet())
    assert [str(w.message).split(":")[0] for w in caught] == [str(dest), str(dest / "again")]
    assert os.strerror(code) in str(caught[0].message)
    assert _files_under(dest) == sorted(["again/a.bin", *blobs])


def test_other_lock_error_is_a_download_error_naming_the_file(server, tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")

    def flock(fd, operation):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(fcntl, "flock", flock)
    row = _row("sub/x.bin", b"x", server.put("sub/x.bin", b"x"))
    dest = tmp_path / "local"
    with pytest.raises(DownloadError, match=r"sub/x\.bin: cannot lock .*x\.bin\.part") as info:
        download_files(pd.DataFrame([row]), dest, **quiet())
    assert os.strerror(errno.EIO) in str(info.value)
    assert server.requests == []


def _race(monkeypatch, step: str, other_runs, dest: Path, data: bytes) -> None:
    """Leave ``data`` in ``dest``'s partial file ``r.bin.part``, as another run that verified it
    and is about to move it into place; call ``other_runs(partial, target)`` once, just before
    this run's ``step`` (``"_open_partial"`` or ``"_lock"``)."""
    partial, target = dest / ".partial/r.bin.part", dest / "r.bin"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data)
    real, done = getattr(download, step), []

    def racing(*args):
        if not done:
            done.append(other_runs(partial, target))
        return real(*args)

    monkeypatch.setattr(download, step, racing)


@pytest.mark.parametrize("third_run", [False, True])
def test_partial_file_finished_by_another_run_before_the_lock(
    server, tmp_path, monkeypatch, third_run
):
    """This run opened the other's partial file, which that run then moved into place: once
    locked, the file open is the final file, and whatever is at the .part path now (nothing,
    or a third run's fresh partial) must not be moved onto it. The final file is verified."""
    data = os.urandom(100_000)
    row = _row("r.bin", data, server.put("r.bin", data))
    cache = tmp_path / "cache"

    def other_runs(partial, target):
        os.replace(partial, target)  # the other run finishes
        if third_run:
            partial.write_bytes(data[:123])  # and a third starts afresh

    _race(monkeypatch, "_lock", other_runs, cache, data)
    assert download_files(pd.DataFrame([row]), cache, **quiet()) == [cache / "r.bin"]
    assert (cache / "r.bin").read_bytes() == data
    assert server.requests == []
    partials = [".partial/r.bin.part"] if third_run else []
    assert _files_under(cache) == [*partials, "r.bin"]


def test_file_finished_by_another_run_before_the_partial_is_opened(server, tmp_path, monkeypatch):
    """The other run moved its file into place after this one found none, before this one
    made its (empty) partial file: nothing is fetched again, and no empty partial is left."""
    data = os.urandom(100_000)
    row = _row("r.bin", data, server.put("r.bin", data))
    cache = tmp_path / "cache"
    _race(monkeypatch, "_open_partial", lambda p, t: os.replace(p, t), cache, data)
    download_files(pd.DataFrame([row]), cache, **quiet())
    assert (cache / "r.bin").read_bytes() == data
    assert server.requests == []
    assert _files_under(cache) == ["r.bin"]


def test_pruning_by_another_run_does_not_break_a_starting_download(server, tmp_path, monkeypatch):
    """Runs sharing a cache prune its empty .partial/ folders as they end; one that does so
    between another's making of its folder and opening of the .part file must not fail it."""
    blobs = {"sub-01/meg/a.bin": os.urandom(5_000), "other/b.bin": os.urandom(3_000)}
    rows = {name: _row(name, data, server.put(name, data)) for name, data in blobs.items()}
    dest = tmp_path / "cache"
    folder = dest / ".partial/sub-01/meg"
    real_mkdir, pruned = os.mkdir, []

    def mkdir(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if Path(path) == folder and not pruned:  # made, its .part file not opened yet
            other = threading.Thread(  # another run: downloads, then prunes .partial/
                target=download_files,
                args=(pd.DataFrame([rows["other/b.bin"]]), dest),
                kwargs=quiet(),
            )
            other.start()
            other.join()
            pruned.append(not folder.exists())

    monkeypatch.setattr(os, "mkdir", mkdir)
    download_files(pd.DataFrame([rows["sub-01/meg/a.bin"]]), dest, **quiet())
    assert pruned == [True]  # the race happened
    assert _files_under(dest) == sorted(blobs)
    assert all((dest / name).read_bytes() == data for name, data in blobs.items())


def test_write_error_names_the_file_and_keeps_the_partial(server, tmp_path, monkeypatch):
    """Disk full (or file too large) mid-transfer: a DownloadError naming the .part file and
    the download folder, not a bare OSError; the bytes written resume in the next run."""
    data = os.urandom(3 * (1 << 20))  # three chunks
    row = _row("sub-01/big.meg4", data, server.put("sub-01/big.meg4", data))
    real_write, written = download._write_all, []

    def write_all(f, chunk):
        if written:  # the second chunk: half of it fits
            written.append(os.write(f.fileno(), chunk[: len(chunk) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(f, chunk)
        written.append(len(chunk))

    monkeypatch.setattr(download, "_write_all", write_all)
    dest = tmp_path / "local"
    with pytest.raises(DownloadError) as info:
        download_files(pd.DataFrame([row]), dest, **quiet(retries=2))
    partial = dest / ".partial/sub-01/big.meg4.part"
    kept = sum(written)
    assert str(info.value).startswith(str(dest / "sub-01/big.meg4"))
    assert f"cannot write {partial} (download folder {dest})" in str(info.value)
    assert "No space left on device" in str(info.value) and f"{kept} bytes" in str(info.value)
    assert len(server.requests) == 1  # a full disk is not retried
    assert partial.read_bytes() == data[:kept]
    monkeypatch.setattr(download, "_write_all", real_write)  # space freed
    download_files(pd.DataFrame([row]), dest, **quiet())
    assert server.ranges == [None, f"bytes={kept}-"]
    assert (dest / "sub-01/big.meg4").read_bytes() == data


# --------------------------------------------------------------------------- verify_file


def test_verify_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    verify_file(path, 3, "sha256", sha)
    verify_file(path, 3, "", "")  # size only
    verify_file(path, 3, "SHA256", sha.upper())  # case does not matter
    with pytest.raises(DataError, match=r"f\.bin: truncated: 3 of 5 bytes"):
        verify_file(path, 5, "sha256", sha)
    with pytest.raises(DataError, match="wrong size: 3 bytes, expected 2"):
        verify_file(path, 2)
    with pytest.raises(DataError, match=f"expected {'0' * 64}, got {sha}"):
        verify_file(path, 3, "sha256", "0" * 64)
    with pytest.raises(DataError, match="cannot read"):
        verify_file(tmp_path / "absent", 3)


# --------------------------------------------------------------------------- manifests


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "manifest.tsv"
    path.write_text(text)
    return path


HEADER = "path\tsize\thash_algorithm\thash\turl\n"
GOOD = "a.txt\t3\tmd5\t" + "0" * 32 + "\thttps://h/a.txt\n"


def test_read_manifest_small(tmp_path):
    spaced = "b c.json\t12\t\t\thttps://h/b c.json\n"  # THINGS-MEG has spaces in paths
    table = read_manifest(_write(tmp_path, HEADER + GOOD + spaced))
    assert table["path"].tolist() == ["a.txt", "b c.json"]
    assert table["size"].dtype == "int64" and table["size"].tolist() == [3, 12]
    assert table["hash"].tolist() == ["0" * 32, ""]
    assert read_manifest(_write(tmp_path, HEADER)).empty


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "path\tsize\thash\turl\n" + "a\t1\tx\thttps://h/a\n",
            r"missing column\(s\) \['hash_algorithm'\]",
        ),
        (
            HEADER + "a.txt\t1.5\t\t\thttps://h/a\n",
            "line 2 .*size must be a non-negative integer, got '1.5'",
        ),
        (HEADER + GOOD + "b\t\t\t\thttps://h/b\n", "line 3 .*non-negative integer"),
        (HEADER + GOOD + "b\t\u0661\u0662\t\t\thttps://h/b\n", "line 3 .*non-negative integer"),
        (
            HEADER + "a\t99999999999999999999\t\t\thttps://h/a\n",
            "line 2 .*at most 9223372036854775807",
        ),
        (HEADER + "a\t1\tcrc32\tabcd\thttps://h/a\n", "unknown hash algorithm.*got 'crc32'"),
        (HEADER + "a\t1\tmd5\tabc\thttps://h/a\n", "not a hex digest"),
        (HEADER + "a\t1\tmd5\t\thttps://h/a\n", "both given or both empty"),
        (HEADER + "../etc/passwd\t1\t\t\thttps://h/a\n", "must be relative"),
        (HEADER + "/abs\t1\t\t\thttps://h/a\n", "must be relative"),
        (HEADER + GOOD + GOOD, "line 3 .*listed twice"),
        (HEADER + "a\t1\t\thttps://h/a\n", "line 2: 4 fields, header has 5"),
        (HEADER + "a\t1\t\t\tftp://h/a\n", "http"),
        ("", "empty manifest"),
    ],
)
def test_read_manifest_rejects_malformed(tmp_path, text, problem):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=problem) as info:
        read_manifest(path)
    assert str(info.value).startswith(str(path))


@needs_shared
@pytest.mark.parametrize(
    ("name", "rows", "algorithms"),
    [
        ("things-meg", 19787, {"sha256": 17374, "": 2413}),
        ("god-fmri", 1373, {"md5": 967, "": 406}),
        ("allen-calcium", 1518, {"sha256": 1518}),
        ("things-fmri", 2461, {"md5": 1039, "": 1422}),
    ],
)
def test_read_real_manifests(name, rows, algorithms):
    table = read_manifest(DATASETS / name / "manifest.tsv")
    assert len(table) == rows
    assert list(table.columns) == ["path", "size", "hash_algorithm", "hash", "url"]
    assert table["size"].dtype == "int64"
    for column in ("path", "hash_algorithm", "hash", "url"):
        assert pd.api.types.is_string_dtype(table[column]), column
    assert table["hash_algorithm"].value_counts().to_dict() == algorithms
    assert table["url"].str.startswith("https://").all()


@needs_shared
def test_local_bids_mirror_matches_manifest():
    """The small files shipped in shared/ are the manifest's files (size-checked)."""
    root = DATASETS / "things-meg"
    table = read_manifest(root / "manifest.tsv").set_index("path")
    local = sorted((root / "bids").rglob("*.tsv"))[:50]
    assert local
    for path in local:
        row = table.loc[path.relative_to(root / "bids").as_posix()]
        verify_file(path, row["size"], row["hash_algorithm"], row["hash"])


# --------------------------------------------------------------------------- hash supplements


@pytest.mark.parametrize(("name", "files"), [("things-meg", 2411), ("god-fmri", 403)])
def test_committed_hash_supplements_match_resources(name, files):
    """workflow/manifests/<name>.hashes.tsv.gz hashes exactly the files of resources/bids/<name>,
    which the published manifest lists without a hash and with their size."""
    listing = REPO / "workflow" / "manifests" / f"{name}.tsv.gz"
    committed = read_supplement(supplement_path(listing))
    pd.testing.assert_frame_equal(
        committed, manifest_hashes.build_supplement(listing, RESOURCES / name)
    )  # build_supplement also checks each file's size against the manifest
    local = sorted(
        p.relative_to(RESOURCES / name).as_posix() for p in (RESOURCES / name).rglob("*")
    )
    assert sorted(committed["path"]) == [p for p in local if (RESOURCES / name / p).is_file()]
    assert len(committed) == files and (committed["hash_algorithm"] == "sha256").all()
    published, table = read_manifest(listing, supplement=False), read_manifest(listing)
    filled = published["path"].isin(committed["path"])
    assert (published.loc[filled, "hash"] == "").all()
    assert table.loc[filled, "hash"].tolist() == committed["hash"].tolist()  # manifest order
    pd.testing.assert_frame_equal(table.loc[~filled], published.loc[~filled])


def _published(tmp_path, rows: list[tuple], url: str) -> Path:
    """A gzipped manifest of (path, size, hash_algorithm, hash) rows, all at ``url``."""
    manifest = tmp_path / "ds.tsv.gz"
    lines = ["\t".join(MANIFEST_COLUMNS)] + ["\t".join([*map(str, r), url]) for r in rows]
    manifest.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return manifest


def test_supplement_hash_rejects_same_size_change(server, tmp_path):
    """A file the manifest lists without a hash is checked against the supplement's: a changed
    events.tsv of the same size (other image labels) fails, where the size alone passes it."""
    path = "sub-01/meg/sub-01_task-main_run-01_events.tsv"
    good = b"onset\tduration\tfile_path\n1.5\t0.5\timages/dog/dog_01b.jpg\n"
    changed = good.replace(b"dog_01b", b"cat_04s")
    bids = tmp_path / "bids"
    (bids / path).parent.mkdir(parents=True)
    (bids / path).write_bytes(good)
    url = server.put(path, changed)
    manifest = _published(tmp_path, [(path, len(good), "", ""), (".gitattributes", 9, "", "")], url)
    manifest_hashes.write_supplement(
        manifest_hashes.build_supplement(manifest, bids), tmp_path / "ds.hashes.tsv.gz"
    )
    published, table = read_manifest(manifest, supplement=False), read_manifest(manifest)
    assert published["hash"].tolist() == ["", ""]
    assert table["hash"].tolist() == [hashlib.sha256(good).hexdigest(), ""]  # .gitattributes: none
    download_files(published.iloc[:1], tmp_path / "size-only", **quiet())  # size only: passes
    dest = tmp_path / "checked"
    with pytest.raises(DataError, match=f"{re.escape(path)}: sha256 mismatch") as info:
        download_files(table.iloc[:1], dest, **quiet())
    assert not isinstance(info.value, DownloadError)
    assert info.value.path == str(dest / path)
    assert hashlib.sha256(changed).hexdigest() in str(info.value)
    assert _files_under(dest) == []


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (["other.tsv\t3\tsha256\t" + "a" * 64], "'other.tsv'.*path not in the manifest.*stale"),
        (["a.tsv\t4\tsha256\t" + "a" * 64], "'a.tsv'.*size 4 differs from the manifest's 3"),
        (
            ["b.tsv\t5\tsha256\t" + "a" * 64],
            "'b.tsv'.*sha256 a{64} differs from the manifest's md5 0{32}",
        ),
        (["a.tsv\t3\tsha256\tabc"], "not a lowercase hex digest"),
        (["a.tsv\t3\t\t"], "hash missing"),
        (
            ["a.tsv\t\u0663\tsha256\t" + "a" * 64],
            "size must be a non-negative integer, got '\u0663'",
        ),
        (["a.tsv\t3\tsha256\t" + "a" * 64] * 2, "line 3 .*listed twice"),
    ],
)
def test_stale_or_malformed_supplement_is_refused(tmp_path, lines, problem):
    manifest = _published(
        tmp_path, [("a.tsv", 3, "", ""), ("b.tsv", 5, "md5", "0" * 32)], "https://h/x"
    )
    supplement = tmp_path / "ds.hashes.tsv.gz"
    text = "\n".join(["path\tsize\thash_algorithm\thash", *lines]) + "\n"
    supplement.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DataError, match=problem) as info:
        read_manifest(manifest)
    assert info.value.path == str(supplement)
    assert read_manifest(manifest, supplement=False)["hash"].tolist() == ["", "0" * 32]


def test_manifest_hashes_command_writes_and_checks(tmp_path, capsys):
    """python -m brainlatent.datasets.manifest_hashes [--check] on a miniature checkout."""
    bids = tmp_path / "resources" / "bids" / "ds"
    (bids / "sub-01").mkdir(parents=True)
    (bids / "sub-01" / "events.tsv").write_bytes(b"a\tb\n")
    (tmp_path / "workflow" / "manifests").mkdir(parents=True)
    rows = [("sub-01/events.tsv", 4, "", ""), ("sub-01/x.meg4", 7, "md5", "1" * 32)]
    manifest = _published(tmp_path / "workflow" / "manifests", rows, "https://h/x")
    argv = ["ds", "--repo", str(tmp_path)]
    assert manifest_hashes.main([*argv, "--check"]) == 1  # no supplement yet
    assert manifest_hashes.main(argv) == 0
    written = (tmp_path / "workflow" / "manifests" / "ds.hashes.tsv.gz").read_bytes()
    assert manifest_hashes.main(argv) == 0  # the same bytes again
    assert (tmp_path / "workflow" / "manifests" / "ds.hashes.tsv.gz").read_bytes() == written
    assert manifest_hashes.main([*argv, "--check"]) == 0
    assert read_manifest(manifest)["hash"].tolist() == [
        hashlib.sha256(b"a\tb\n").hexdigest(),
        "1" * 32,
    ]
    (bids / "sub-01" / "events.tsv").write_bytes(b"a\tc\n")  # same size, other bytes
    capsys.readouterr()
    assert manifest_hashes.main([*argv, "--check"]) == 1
    assert "1 path(s) differ" in capsys.readouterr().err
    (bids / "sub-01" / "events.tsv").write_bytes(b"a\tbc\n")
    with pytest.raises(DataError, match=r"events\.tsv: wrong size: 5 bytes, expected 4"):
        manifest_hashes.main(argv)


# --------------------------------------------------------------------------- selection

RUN_DS = "sub-BIGMEG1/ses-01/meg/sub-BIGMEG1_ses-01_task-main_run-01_meg.ds"


@pytest.fixture(scope="module")
def things_meg():
    if DATASETS is None:
        pytest.skip("shared/datasets not found")
    return read_manifest(DATASETS / "things-meg" / "manifest.tsv")


def test_glob_semantics():
    import re

    def match(pattern, path):
        return re.fullmatch(glob_to_regex(pattern), path) is not None

    assert match("*.json", "a.json") and not match("*.json", "sub/a.json")
    assert match("**/*.json", "a.json") and match("**/*.json", "x/y/a.json")
    assert match("sub/**", "sub/a") and match("sub/**", "sub/x/y") and not match("sub/**", "subx/a")
    assert match("a/**/z", "a/z") and match("a/**/z", "a/b/c/z")
    assert match("run-0[1-3]_*", "run-02_x") and not match("run-0[!1-3]_*", "run-02_x")
    assert match("f?le.txt", "file.txt") and not match("f?le.txt", "f/le.txt")
    assert match("body part/[0].jpg", "body part/0.jpg") and match("a+b(1).txt", "a+b(1).txt")


def test_select_one_run_ds_folder(things_meg):
    run = select_files(things_meg, [f"{RUN_DS}/**"])
    assert len(run) == 31  # incl. nested hz.ds/hz2.ds head-localisation folders (8 files each)
    assert run["path"].str.startswith(RUN_DS + "/").all()
    assert run["size"].sum() == 529_460_485
    assert len(select_files(things_meg, [f"{RUN_DS}/*"])) == 15  # top level of the .ds only
    assert select_files(things_meg, [f"{RUN_DS}/**"], exclude=["**/*hz*.ds/**"]).shape[0] == 15


def test_select_top_level_and_excludes(things_meg):
    top = select_files(things_meg, ["*"])
    assert top["path"].tolist() == [
        ".bidsignore",
        ".gitattributes",
        "CHANGES",
        "README",
        "dataset_description.json",
        "participants.json",
        "participants.tsv",
        "task-main_events.json",
    ]
    assert len(select_files(things_meg)) == len(things_meg)
    assert len(select_files(things_meg, ["sub-BIGMEG1/ses-01/**"])) == 371
    no_meg4 = select_files(things_meg, ["sub-BIGMEG1/ses-01/**"], exclude=["**/*.meg4"])
    assert len(no_meg4) == 371 - 30  # one raw and two head-localisation meg4 per run
    with pytest.raises(TypeError):
        select_files(things_meg, "sub-BIGMEG1/**")


def test_things_meg_patterns_one_run(things_meg):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selected = select_files(things_meg, things_meg_patterns(["BIGMEG1"], [1], [1]))
    paths = selected["path"].tolist()
    assert len(paths) == 31 + 4 + 1 + 3  # .ds, 4 sidecars, scans.tsv, 3 root files
    assert "task-main_events.json" in paths
    assert "sub-BIGMEG1/ses-01/sub-BIGMEG1_ses-01_scans.tsv" in paths
    assert not any("eyetracking" in p for p in paths)
    assert not any("run-10" in p or "run-02" in p for p in paths)
    with_eye = select_files(things_meg, things_meg_patterns([1], ["ses-01"], ["run-01"], True))
    assert len(with_eye) == len(paths) + 2


def test_things_meg_patterns_warn_on_missing_sidecars(things_meg):
    with pytest.warns(UserWarning, match="1 include pattern.*run-01_coordsystem.json"):
        selected = select_files(things_meg, things_meg_patterns(["sub-BIGMEG1"], [3], [1]))
    assert len(selected) == 31 + 3 + 1 + 3
    # Spelled out, every run's sidecars are asked for: 35 are absent upstream.
    with pytest.warns(UserWarning, match="35 include pattern"):
        patterns = things_meg_patterns([1, 2, 3, 4], range(1, 13), range(1, 11))
        listed = select_files(things_meg, patterns)
    # With wildcards (None) the same files are found, and nothing to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        everything = select_files(things_meg, things_meg_patterns(None, None, None))
    assert everything["path"].tolist() == listed["path"].tolist()
    assert len(everything) == 16745
    assert not everything["path"].str.startswith("sub-emptyroom").any()


# --------------------------------------------------------------------------- Allen (DANDI 000728)


def test_allen_session_is_downloaded_verified_and_read(server, tmp_path):
    """scripts/download_allen_calcium.py: one manifest row → cache → link the reader opens."""
    import runpy

    from brainlatent.datasets import allen_calcium as ac
    from brainlatent.datasets.simulate_calcium import simulate_mouse

    local = tmp_path / "made" / "M1.nwb"
    simulate_mouse(
        local, "491604967", "VISp", 12, seed=0, n_movie_repeats=2, n_scene_repeats=0, image_size=8
    )
    name = "sub-491604967/sub-491604967_ses-496908818-StimB_behavior+image+ophys.nwb"
    data = local.read_bytes()
    other = _row("sub-1/sub-1_ses-2-StimA_behavior+image+ophys.nwb", b"x", f"{server.url}/x")
    manifest = tmp_path / "manifest.tsv"
    pd.DataFrame([_row(name, data, server.put(name, data)), other]).to_csv(
        manifest, sep="\t", index=False
    )
    script = str(Path(__file__).parents[2] / "scripts" / "download_allen_calcium.py")
    nwb = tmp_path / "results" / "sub-M1.nwb"
    argv = [
        "--manifest",
        str(manifest),
        "--session",
        name,
        "--cache",
        str(tmp_path / "cache"),
        "--nwb",
        str(nwb),
    ]
    with mock.patch("sys.argv", ["download_allen_calcium", *argv]):
        runpy.run_path(script, run_name="__main__")
    assert nwb.is_symlink() and nwb.resolve() == (tmp_path / "cache" / name).resolve()
    assert ac.read_session(nwb, templates=False).dff.shape[1] == 12
    assert server.requests == [name]  # only the configured session
    bad = [a if a != name else "sub-9/sub-9_ses-9-StimB_behavior+image+ophys.nwb" for a in argv]
    with (
        mock.patch("sys.argv", ["download_allen_calcium", *bad]),
        pytest.raises(DataError, match="manifest.tsv.*no file 'sub-9"),
    ):
        runpy.run_path(script, run_name="__main__")


# --------------------------------------------------------------------------- motor (DANDI 000688)


def test_motor_session_is_downloaded_verified_and_read(server, tmp_path):
    """scripts/download_motor_cortex.py: one manifest row → cache → link the reader opens."""
    import runpy

    from brainlatent.datasets.motor_cortex import read_motor_session
    from brainlatent.datasets.simulate_motor import simulate_motor_sessions

    (made,) = simulate_motor_sessions(
        tmp_path / "made", subject="C", days=[0], trials_per_session=20, units_per_session=10,
        n_electrodes=16, seed=0,
    )  # fmt: skip
    name = f"sub-C/{made.name}"
    data = made.read_bytes()
    manifest = tmp_path / "manifest.tsv"
    pd.DataFrame([_row(name, data, server.put(name, data))]).to_csv(manifest, sep="\t", index=False)
    script = str(Path(__file__).parents[2] / "scripts" / "download_motor_cortex.py")
    nwb = tmp_path / "results" / made.name
    argv = ["--manifest", str(manifest), "--session", name, "--cache", str(tmp_path / "cache")]
    with mock.patch("sys.argv", ["download_motor_cortex", *argv, "--nwb", str(nwb)]):
        runpy.run_path(script, run_name="__main__")
    assert nwb.is_symlink() and nwb.resolve() == (tmp_path / "cache" / name).resolve()
    session = read_motor_session(nwb)
    assert session.subject == "C" and len(session.trials) == 20
    assert server.requests == [name]
    bad = ["--manifest", str(manifest), "--session", "sub-C/nope.nwb", "--nwb", str(nwb) + "2"]
    with (
        mock.patch("sys.argv", ["download_motor_cortex", *bad]),
        pytest.raises(DataError, match="no file 'sub-C/nope.nwb' \\(motor.sessions\\)"),
    ):
        runpy.run_path(script, run_name="__main__")
    assert not Path(str(nwb) + "2").exists()


@needs_shared
@pytest.mark.parametrize("name", ["things-meg", "allen-calcium", "god-fmri", "motor-cortex"])
def test_project_manifests_are_the_published_ones(name):
    """workflow/manifests/*.tsv.gz (what the configs read) are the shared manifests, gzipped."""
    ours = read_manifest(REPO / "workflow" / "manifests" / f"{name}.tsv.gz", supplement=False)
    pd.testing.assert_frame_equal(ours, read_manifest(DATASETS / name / "manifest.tsv"))


@needs_shared
@pytest.mark.parametrize("name", ["things-meg", "god-fmri"])
def test_vendored_bids_are_the_published_small_files(name):
    """resources/bids/<name> (what the simulators read) is shared/'s copy, file for file."""
    ours, theirs = RESOURCES / name, DATASETS / name / "bids"

    def files(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    assert files(ours) == files(theirs)
    assert all((ours / f).read_bytes() == (theirs / f).read_bytes() for f in files(ours))
