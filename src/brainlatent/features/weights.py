"""Fetch the pretrained image networks' default weights, for users who have none on disk.

Each source is the one the loaders in :mod:`brainlatent.features.pretrained`
expect: torchvision's VGG-19 file (its name carries the first 8 hex digits of its
sha256, checked once it is whole) and Hugging Face ``save_pretrained`` folders for
CLIP and DINOv2 (the repository's files at one commit, their sizes and the LFS files'
sha256 from the Hub's API).

The bytes go through the datasets' downloader (:func:`~brainlatent.datasets.download.
download_files`) into a staging folder beside the destination that outlives a failed
run, so a cut-off download resumes where it stopped (0.5 GB for VGG-19, 4.5 GB for
DINOv2-giant); torch.hub and huggingface_hub 2.x each write to a temporary of their
own process, and start over. The destination appears only once every file is whole
and checked; the weights then stay on disk and every later run is offline.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import time
from pathlib import Path, PurePosixPath

import pandas as pd

from brainlatent.datasets.download import (
    DownloadError,
    download_files,
    file_digest,
    is_retried_status,
)
from brainlatent.errors import DataError
from brainlatent.io import atomic_path

__all__ = ["WEIGHT_SOURCES", "download_weights", "staging_folder"]

#: model → (kind, where): a URL for a single file, or a Hugging Face repository.
WEIGHT_SOURCES = {
    "vgg19": ("url", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    "clip": ("huggingface", "openai/clip-vit-large-patch14"),
    "dinov2": ("huggingface", "facebook/dinov2-giant"),
}
#: Files a ``from_pretrained`` folder needs (no TensorFlow/Flax duplicates).
HF_PATTERNS = ["*.json", "*.safetensors", "*.txt"]


def staging_folder(dest: str | os.PathLike) -> Path:
    """Where ``dest``'s files gather until all are whole: beside it, kept across runs (its
    name is not one :func:`~brainlatent.io.atomic_path` takes for a stale temporary)."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.downloading"


def download_weights(model: str, dest: str | os.PathLike, **download_options) -> Path:
    """Write ``model``'s weights to ``dest`` (a file for VGG-19, a folder otherwise).

    Nothing is at ``dest`` until every file is whole and matches its size and checksum; a
    failed or interrupted run leaves its bytes in :func:`staging_folder` for the next.
    ``download_options`` go to :func:`~brainlatent.datasets.download.download_files`.
    """
    if model not in WEIGHT_SOURCES:
        raise ValueError(f"no download source for {model!r}; known: {sorted(WEIGHT_SOURCES)}")
    kind, where = WEIGHT_SOURCES[model]
    dest, staging = Path(dest), staging_folder(dest)
    listing = {k: download_options[k] for k in ("retries", "backoff") if k in download_options}
    if kind == "url":
        paths = download_files(_url_rows(where, **listing), staging, **download_options)
        _check_name_hash(paths[0], where)
        with atomic_path(dest) as tmp:
            os.replace(paths[0], tmp)
    else:
        commit, rows = _hub_rows(where, **listing)
        # a run cut off before a new commit was pushed left files of the old one: not these
        for other in staging.glob("*") if staging.is_dir() else []:
            if other.name != commit:
                shutil.rmtree(other)
        download_files(rows, staging / commit, **download_options)
        with atomic_path(dest) as tmp:
            os.replace(staging / commit, tmp)
    shutil.rmtree(staging, ignore_errors=True)
    return dest


def _retried(ask, retries: int, backoff: float):
    """``ask()``, asked again after a failure up to ``retries`` times, waiting ``backoff`` s
    and twice as long each time (as the downloader does for the files): the listing of what
    to fetch should not fail a run on one dropped connection. An HTTP answer the downloader
    would not retry either (a 404, a gated repository's 401) and the last error are raised."""
    for attempt in range(retries + 1):
        try:
            return ask()
        except Exception as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            final = status is not None and not is_retried_status(status)
            if final or attempt == retries:
                raise
            time.sleep(backoff * 2**attempt)


def _url_rows(url: str, retries: int = 3, backoff: float = 2.0) -> pd.DataFrame:
    """One file: its size from the server (the downloader resumes by it); the hash is
    checked afterwards against the prefix in the file's name."""
    import requests

    def head():
        response = requests.head(url, allow_redirects=True, timeout=60)
        response.raise_for_status()
        return int(response.headers["Content-Length"])

    try:
        size = _retried(head, retries, backoff)
    except (requests.RequestException, KeyError, ValueError) as error:
        raise DownloadError(url, f"could not read the file's size: {error!r}; rerun") from error
    name = PurePosixPath(url).name
    return pd.DataFrame(
        [{"path": name, "size": size, "hash_algorithm": "", "hash": "", "url": url}]
    )


def _check_name_hash(path: Path, url: str) -> None:
    """torchvision's file names end in the first 8 hex digits of the file's sha256."""
    prefix = PurePosixPath(url).stem.rsplit("-", 1)[-1]
    digest = file_digest(path, "sha256")
    if not digest.startswith(prefix):
        path.unlink()
        raise DataError(
            path,
            f"sha256 {digest} does not start with {prefix}, as {url}'s name says; "
            "deleted: rerun to download it again",
        )


def _hub_rows(repo: str, retries: int = 3, backoff: float = 2.0) -> tuple[str, pd.DataFrame]:
    """The repository's current commit and the files of it that ``from_pretrained`` reads:
    URLs pinned to that commit (a push during the download cannot mix two versions), sizes,
    and the sha256 of the LFS files (the weights; small text files are checked by size)."""
    from huggingface_hub import HfApi, hf_hub_url

    try:
        info = _retried(lambda: HfApi().model_info(repo, files_metadata=True), retries, backoff)
    except Exception as error:  # the Hub's HTTP errors, or httpx's when it cannot be reached
        raise DownloadError(
            repo, f"could not list its files on the Hub: {error!r}; rerun"
        ) from error
    rows = []
    for sibling in info.siblings or []:
        name = sibling.rfilename
        if not any(fnmatch.fnmatch(name, p) for p in HF_PATTERNS):  # as snapshot_download
            continue
        lfs = sibling.lfs
        rows.append(
            {
                "path": name,
                "size": int(lfs.size if lfs else sibling.size),
                "hash_algorithm": "sha256" if lfs else "",
                "hash": lfs.sha256 if lfs else "",
                "url": hf_hub_url(repo, name, revision=info.sha),
            }
        )
    if not rows:
        raise DownloadError(repo, f"the Hub lists no files matching {HF_PATTERNS} at {info.sha}")
    return info.sha, pd.DataFrame(rows)
