import numpy as np
import pandas as pd
import pytest

from brainlatent.errors import DataError
from brainlatent.io import (
    atomic_path,
    load_npy,
    load_npz,
    read_json,
    read_table,
    save_npy,
    write_table,
)


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path):
    import errno

    target = tmp_path / "sub" / "run.ds"
    with pytest.raises(OSError, match=r"No space left on device while writing .*sub/run\.ds"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "run.meg4").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list((tmp_path / "sub").iterdir()) == []
    # other OS errors (a missing input read inside the block) pass through as they are
    with pytest.raises(FileNotFoundError, match="missing.txt"), atomic_path(target):
        (tmp_path / "missing.txt").read_text()


def test_atomic_path_replaces_directories(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    (target / "old").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_roundtrips(tmp_path):
    save_npy(tmp_path / "a.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert isinstance(load_npy(tmp_path / "a.npy"), np.memmap)
    write_table(tmp_path / "t.parquet", pd.DataFrame({"a": [1, 2]}))
    assert read_table(tmp_path / "t.parquet", ["a"])["a"].tolist() == [1, 2]
    with pytest.raises(DataError, match=r"t\.parquet: missing columns \['b'\]"):
        read_table(tmp_path / "t.parquet", ["b"])


def test_atomic_path_clears_what_a_killed_writer_left(tmp_path):
    import tempfile

    target = tmp_path / "model.pt"
    stale = tempfile.mkdtemp(prefix=".model.pt.", dir=tmp_path)  # SIGKILL: no cleanup ran
    (tmp_path / stale / "model.pt").write_bytes(b"half")
    (tmp_path / ".model.pt.notes").mkdir()  # not one of ours: not 8 mkdtemp characters
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.pt.notes", "model.pt"]


def test_read_json_names_a_broken_or_incomplete_file(tmp_path):
    path = tmp_path / "epochs.json"
    path.write_text('{"times": [0.0, 0.1], "chan')  # truncated
    with pytest.raises(DataError, match="epochs.json: cannot read JSON"):
        read_json(path, ["times"])
    path.write_text('{"channels": []}')
    with pytest.raises(DataError, match=r"epochs.json: lacks keys \['times'\]"):
        read_json(path, ["times"])
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON object"):
        read_json(path)
    path.write_text('{"times": [0.0]}')
    assert read_json(path, ["times"]) == {"times": [0.0]}
    with pytest.raises(DataError, match="nowhere.json: cannot read JSON"):
        read_json(tmp_path / "nowhere.json")


def test_load_npz_names_an_unreadable_or_incomplete_file(tmp_path):
    path = tmp_path / "trajectories.npz"
    np.savez(path, reference=np.zeros(3), days_apart=np.array(4))
    arrays = load_npz(path, ["reference"])
    assert sorted(arrays) == ["days_apart", "reference"] and int(arrays["days_apart"]) == 4
    with pytest.raises(DataError, match=r"trajectories.npz: lacks arrays \['test_after'\]"):
        load_npz(path, ["reference", "test_after"])
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(DataError, match="trajectories.npz: cannot read .npz"):
        load_npz(path)
    np.savez(path, names=np.array([{"a": 1}], dtype=object))  # a pickle: refused
    with pytest.raises(DataError, match="trajectories.npz: cannot read .npz"):
        load_npz(path)
