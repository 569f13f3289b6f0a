"""Tests for brainlatent.datasets.download against a local HTTP server and the real manifests.

The server binds 127.0.0.1 on a free port and serves files from tmp_path; no test
reaches any other address.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import warnings
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from brainlatent.datasets.download import (
    DownloadError,
    download_files,
    glob_to_regex,
    read_manifest,
    select_files,
    things_meg_patterns,
    verify_file,
)
from brainlatent.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def _shared_datasets() -> Path | None:
    """shared/ sits beside the checkout (developer machines and CI alike)."""
    for root in (os.environ.get("BRAINLATENT_SHARED"), REPO.parent / "shared", "/work/shared"):
        if root and (Path(root) / "datasets").is_dir():
            return Path(root) / "datasets"
    return None


DATASETS = _shared_datasets()
needs_shared = pytest.mark.skipif(DATASETS is None, reason="shared/datasets not found")

# --------------------------------------------------------------------------- local server


class _Server:
    """A threaded HTTP server over a folder, recording requests, with failure knobs."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.fail_first: dict[str, int] = {}  # path -> number of 503s before serving
        self.no_length: set[str] = set()  # paths sent without Content-Length
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                from urllib.parse import unquote

                path = unquote(self.path.split("?", 1)[0]).lstrip("/")
                server.requests.append(path)
                if server.fail_first.get(path, 0) > 0:
                    server.fail_first[path] -= 1
                    self.send_error(503, "busy")
                    return
                if path in server.no_length:
                    data = (server.root / path).read_bytes()
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                    self.close_connection = True
                    return
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def put(self, name: str, data: bytes) -> str:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return f"{self.url}/{name}?versionId=test"


@pytest.fixture
def server(tmp_path):
    srv = _Server(tmp_path / "remote")
    srv.root.mkdir()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


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


def _quiet(**kwargs):
    return {"progress": False, "backoff": 0.0, "timeout": 5, **kwargs}


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
    paths = download_files(pd.DataFrame(rows), dest, **_quiet())
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
    assert download_files(pd.DataFrame([row]), dest, **_quiet()) == [dest / "a/b.tsv"]
    assert server.requests == []


def test_present_bad_file_raises_and_is_kept(server, tmp_path):
    data = b"the real content"
    row = _row("x.bin", data, server.put("x.bin", data))
    dest = tmp_path / "local"
    dest.mkdir()
    (dest / "x.bin").write_bytes(b"the REAL content")  # same size, other bytes
    with pytest.raises(DataError, match=r"x\.bin: sha256 mismatch"):
        download_files(pd.DataFrame([row]), dest, **_quiet())
    assert (dest / "x.bin").read_bytes() == b"the REAL content"
    assert server.requests == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    data = os.urandom(10_000)
    url = server.put("sub-01/big.meg4", data[:4_000])  # server has a truncated copy
    row = _row("sub-01/big.meg4", data, url)
    dest = tmp_path / "local"
    with pytest.raises(DataError, match=r"big\.meg4: truncated: .*4000.*10000") as info:
        download_files(pd.DataFrame([row]), dest, **_quiet())
    assert not isinstance(info.value, DownloadError)
    assert info.value.path == str(dest / "sub-01/big.meg4")
    assert _files_under(dest) == []
    assert len(server.requests) == 1  # wrong content is not retried


def test_truncated_stream_without_length_is_caught_after_download(server, tmp_path):
    data = os.urandom(5_000)
    url = server.put("raw.bin", data[:1_234])
    server.no_length.add("raw.bin")
    dest = tmp_path / "local"
    with pytest.raises(DataError, match=r"raw\.bin: truncated: 1234 of 5000 bytes"):
        download_files(pd.DataFrame([_row("raw.bin", data, url, None)]), dest, **_quiet())
    assert _files_under(dest) == []


def test_hash_mismatch_leaves_nothing(server, tmp_path):
    data = b"0123456789" * 100
    url = server.put("f.nii.gz", data[::-1])  # same size, other bytes
    row = _row("f.nii.gz", data, url, "md5")
    dest = tmp_path / "local"
    with pytest.raises(DataError, match="md5 mismatch") as info:
        download_files(pd.DataFrame([row]), dest, **_quiet())
    message = str(info.value)
    assert message.startswith(str(dest / "f.nii.gz"))
    assert row["hash"] in message and hashlib.md5(data[::-1]).hexdigest() in message
    assert _files_under(dest) == []


def test_404_names_url_and_is_not_retried(server, tmp_path):
    url = f"{server.url}/missing/file.tsv?versionId=abc"
    row = _row("missing/file.tsv", b"x", url, None)
    with pytest.raises(DownloadError, match="404") as info:
        download_files(pd.DataFrame([row]), tmp_path / "local", **_quiet(retries=3))
    assert url in str(info.value)
    assert "missing/file.tsv" in info.value.path
    assert server.requests == ["missing/file.tsv"]
    assert _files_under(tmp_path / "local") == []


def test_busy_server_is_retried(server, tmp_path):
    data = b"eventually"
    row = _row("e.tsv", data, server.put("e.tsv", data))
    server.fail_first["e.tsv"] = 2
    dest = tmp_path / "local"
    download_files(pd.DataFrame([row]), dest, **_quiet(retries=2))
    assert (dest / "e.tsv").read_bytes() == data
    assert server.requests == ["e.tsv"] * 3


def test_gives_up_after_retries_naming_url_and_file(server, tmp_path):
    data = b"never"
    url = server.put("n.tsv", data)
    server.fail_first["n.tsv"] = 10
    with pytest.raises(DownloadError, match=r"n\.tsv: download failed after 2 attempts") as info:
        download_files(
            pd.DataFrame([_row("n.tsv", data, url)]), tmp_path / "l", **_quiet(retries=1)
        )
    assert "503" in str(info.value) and url in str(info.value)


def test_connection_refused_is_a_download_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(DownloadError, match="after 2 attempts") as info:
        download_files(pd.DataFrame([_row("x.bin", b"x", url)]), tmp_path, **_quiet(retries=1))
    assert url in str(info.value)


def test_progress_bars_go_to_stderr(server, tmp_path, capsys):
    data = b"bar"
    row = _row("p.txt", data, server.put("p.txt", data))
    download_files(pd.DataFrame([row]), tmp_path / "local", progress=True, backoff=0)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "files" in captured.err


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
