import numpy as np
import pandas as pd
import pytest

from brainlatent.errors import DataError
from brainlatent.io import (
    RowStack,
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


def test_row_stack_reads_as_the_concatenation_of_its_rows(tmp_path):
    gen = np.random.default_rng(0)
    parts = [gen.normal(size=(n, 3, 4)).astype(np.float32) for n in (5, 7)]
    for k, part in enumerate(parts):
        save_npy(tmp_path / f"{k}.npy", part)
    mapped = [load_npy(tmp_path / f"{k}.npy") for k in range(2)]
    rows = [np.array([4, 0, 2]), np.array([6, 1])]
    stack = RowStack(mapped, rows)
    reference = np.concatenate([part[r] for part, r in zip(parts, rows, strict=True)])
    assert stack.shape == reference.shape == (5, 3, 4) and len(stack) == 5
    assert stack.dtype == np.float32 and stack.ndim == 3
    mask = np.array([True, False, True, True, False])
    for key in (
        0,
        -1,
        slice(None),
        slice(1, 4),
        slice(None, None, -2),
        [4, 0, 3],
        mask,
        np.array([], dtype=int),
        (slice(None), 0, 0),
        (3, slice(1, 3)),
        (2, 1, 3),
    ):
        got, want = stack[key], reference[key]
        np.testing.assert_array_equal(got, want, err_msg=repr(key))
        assert isinstance(got, np.ndarray | np.floating)
    np.testing.assert_array_equal(np.asarray(stack), reference)
    assert np.asarray(stack, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="integers and slices"):
        stack[:, [0, 1]]
    with pytest.raises(IndexError):
        stack[5]
    with pytest.raises(ValueError, match="differ beyond the first axis"):
        RowStack([mapped[0], np.zeros((2, 3, 5), np.float32)], [[0], [0]])


def test_row_stack_holds_no_copy_of_the_rows(tmp_path):
    """What it is for: ~100 MB of memory-mapped epochs stacked without 100 MB of memory."""

    def anonymous_mb():
        with open("/proc/self/status") as status:
            line = next(row for row in status if row.startswith("RssAnon"))
        return int(line.split()[1]) / 1024

    part = np.ones((250, 271, 100), np.float32)  # 27 MB each
    for k in range(4):
        save_npy(tmp_path / f"{k}.npy", part)
    del part
    mapped = [load_npy(tmp_path / f"{k}.npy") for k in range(4)]
    before = anonymous_mb()
    stack = RowStack(mapped, [np.arange(250)] * 4)
    assert stack[999].sum() == 271 * 100  # a row reads from the last file
    assert anonymous_mb() - before < 10  # the 108 MB stay in the files' pages
