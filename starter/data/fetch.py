"""Download the course data from its official sources, verified, into the data root.

``dlci fetch`` calls :func:`fetch`. What it checks:

- MNIST: each of the four official IDX files against its pinned md5 (the ones torchvision
  lists), before the file is moved into ``<root>/MNIST/raw/``.
- BSDS300: Berkeley publishes no checksum for ``BSDS300-images.tgz``, so the archive is
  extracted into a staging folder and every extracted file is checked against the pinned
  per-file sha256 manifest in :mod:`starter.data.checksums`; only then does it become
  ``<root>/BSDS300/``.

Re-running is cheap and changes nothing when the data is already there and verified.
Downloads go through pooch (HTTP via requests), trying each mirror in turn.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pooch
import requests

from starter.data.checksums import BSDS300_SHA256, MNIST_MD5
from starter.data.root import locate_data_root
from starter.env_vars import DATA_ENV_VAR
from starter.hashing import file_digest, sha256_file

DATASETS = ("bsds300", "mnist")
"""What :func:`fetch` can download."""

BSDS300_URLS = (
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/BSDS300-images.tgz",
    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/segbench/BSDS300-images.tgz",
)
"""The official BSDS300 image archive (UC Berkeley), and its older address."""

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Where the official MNIST files are served, as torchvision lists them."""

_TIMEOUT_S = 60
PathLike = str | os.PathLike[str]


def verify_bsds300(
    root: PathLike | None = None, manifest: Mapping[str, str] | None = None
) -> list[str]:
    """Check the BSDS300 files under a data root against their sha256.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        manifest: ``{path relative to the root: sha256}``; default the pinned
            :data:`starter.data.checksums.BSDS300_SHA256` (302 files).

    Returns:
        the problems, one line per file (``"missing: ..."`` or ``"sha256 mismatch: ..."``);
        empty when every file is present and verified.
    """
    base = locate_data_root(root).path
    manifest = BSDS300_SHA256 if manifest is None else manifest
    problems = []
    for name, expected in sorted(manifest.items()):
        path = base / name
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif sha256_file(path) != expected.lower():
            problems.append(f"sha256 mismatch: {path}")
    return problems


def _summary(problems: Sequence[str], limit: int = 5) -> str:
    shown = "; ".join(problems[:limit])
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return f"{len(problems)} problem(s): {shown}{more}"


def _offline_error(
    what: str, urls: Sequence[str], errors: Sequence[str], target: Path
) -> ConnectionError:
    return ConnectionError(
        f"could not download {what}: tried {', '.join(urls)} ({'; '.join(errors)}). Check the "
        f"network connection and try again, or copy the data by hand into {target}, or set "
        f"{DATA_ENV_VAR} to a folder that already holds BSDS300/ and MNIST/raw/."
    )


def _safe_extract(archive: Path, destination: Path) -> None:
    """Extract a tar archive, refusing links and members that would land outside ``destination``."""
    destination = destination.resolve()
    try:
        with tarfile.open(archive, "r:*") as bundle:
            members = bundle.getmembers()
            for member in members:
                target = (destination / member.name).resolve()
                if not (member.isfile() or member.isdir()):
                    raise ValueError(
                        f"{archive}: refusing the non-regular archive member {member.name}"
                    )
                if target != destination and destination not in target.parents:
                    raise ValueError(
                        f"{archive}: refusing the archive member {member.name} (outside the target)"
                    )
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(destination, members=members, filter="data")
            else:  # Python < 3.10.12: members were checked above
                bundle.extractall(destination, members=members)
    except tarfile.TarError as error:
        raise ValueError(f"{archive} is not a valid tar archive: {error}") from error


def fetch_bsds300(
    root: PathLike | None = None,
    *,
    urls: Sequence[str] = BSDS300_URLS,
    manifest: Mapping[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download and extract BSDS300 into ``<root>/BSDS300/``, verified file by file.

    Does nothing when every file is already there and matches ``manifest``. Otherwise
    downloads the archive (first URL that answers), extracts it into a staging folder
    under ``root``, checks every file against ``manifest``, and only then replaces
    ``<root>/BSDS300/``. The archive and the staging folder are deleted either way.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        urls: addresses of ``BSDS300-images.tgz``, tried in order.
        manifest: ``{path under the root: sha256}``; default the pinned manifest.
        progress: show a download progress bar.

    Returns:
        the ``BSDS300`` folder.

    Raises:
        ConnectionError: no URL could be downloaded (e.g. offline).
        ValueError: the download is not a valid archive or its files fail the checksums;
            nothing is installed.
    """
    manifest = BSDS300_SHA256 if manifest is None else manifest
    base = locate_data_root(root).path
    target = base / "BSDS300"
    if target.is_dir() and not verify_bsds300(base, manifest):
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = base / ".BSDS300.download"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        archive = staging / "BSDS300-images.tgz"
        errors = []
        for url in urls:
            try:
                downloader = pooch.HTTPDownloader(progressbar=progress, timeout=_TIMEOUT_S)
                downloader(url, str(archive), None)
                break
            except requests.exceptions.RequestException as error:
                errors.append(f"{url}: {error}")
                archive.unlink(missing_ok=True)
        else:
            raise _offline_error("the BSDS300 images", urls, errors, target)
        extracted = staging / "extracted"
        _safe_extract(archive, extracted)
        problems = verify_bsds300(extracted, manifest)
        if problems:
            raise ValueError(
                f"the downloaded BSDS300 archive ({url}) failed verification against the pinned "
                f"checksums, so nothing was installed: {_summary(problems)}"
            )
        if target.exists():
            shutil.rmtree(target)
        (extracted / "BSDS300").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def fetch_mnist(
    root: PathLike | None = None,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    md5: Mapping[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download the official MNIST files into ``<root>/MNIST/raw/``, each checked by md5.

    Files already present with the right md5 are kept as they are; a file with a wrong
    md5 is downloaded again. A download whose md5 does not match is never installed.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        mirrors: base URLs (ending in ``/``), tried in order for each file.
        md5: ``{file name: md5}``; default the pinned
            :data:`starter.data.checksums.MNIST_MD5` (the four official ``.gz`` files).
        progress: show download progress bars.

    Returns:
        the ``MNIST/raw`` folder.

    Raises:
        ConnectionError: a file could not be downloaded from any mirror (e.g. offline).
        ValueError: every mirror that answered served a file with the wrong md5.
    """
    md5 = MNIST_MD5 if md5 is None else md5
    raw_dir = locate_data_root(root).path / "MNIST" / "raw"
    for name, expected in md5.items():
        path = raw_dir / name
        if path.is_file() and file_digest(path, "md5") == expected.lower():
            continue
        errors, mismatches = [], []
        for mirror in mirrors:
            try:
                pooch.retrieve(
                    mirror + name,
                    known_hash=f"md5:{expected}",
                    fname=name,
                    path=raw_dir,
                    downloader=pooch.HTTPDownloader(progressbar=progress, timeout=_TIMEOUT_S),
                )
                break
            except requests.exceptions.RequestException as error:
                errors.append(f"{mirror + name}: {error}")
            except ValueError as error:  # pooch: the hash does not match
                mismatches.append(f"{mirror + name}: {error}")
        else:
            if mismatches:
                raise ValueError(
                    f"MNIST file {name} failed its md5 check (expected {expected}), so it was not "
                    f"installed: {'; '.join(mismatches)}"
                )
            raise _offline_error(f"MNIST file {name}", [m + name for m in mirrors], errors, raw_dir)
    return raw_dir


def fetch(
    root: PathLike | None = None,
    which: Iterable[str] = DATASETS,
    progress: bool = True,
) -> Path:
    """Download the course data (BSDS300 and/or MNIST) into the data root, verified.

    Idempotent: data that is already present and verified is left alone, so re-running
    downloads nothing. See :func:`fetch_bsds300` and :func:`fetch_mnist` for the checks.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        which: any of ``"bsds300"``, ``"mnist"``.
        progress: show download progress bars.

    Returns:
        the data root, ready for ``BSDS300(root)``, ``MNISTDigits(root)`` etc.
    """
    which = [which] if isinstance(which, str) else list(which)
    unknown = [w for w in which if w not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {DATASETS}")
    base = locate_data_root(root).path
    if "bsds300" in which:
        fetch_bsds300(base, progress=progress)
    if "mnist" in which:
        fetch_mnist(base, progress=progress)
    return base
