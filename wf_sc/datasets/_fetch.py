"""Download-once cache for the real data files, verified by SHA-256 before anything parses them.

Files live under :func:`data_dir` with the layout of the registry (``tigon/EMT.npy`` ...), so
pointing ``WF_SC_DATA_DIR`` at a folder that already holds them means no download at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_VAR = "WF_SC_DATA_DIR"
_RAW = "https://raw.githubusercontent.com/"
_TIGON = "yutongo/TIGON/1ed92cfcc250415fc01b4d344a308b0680cc9635/"
_WOT = "broadinstitute/wot/03920f1adb23a99961e3cb93f6c05f907c279f1c/tests/data/"
_GENELINK = (
    "zpliulab/GENELink/4eb816af27f5fe0cb26f9230286401801b251129/Dataset/"
    "Benchmark%20Dataset/Specific%20Dataset/mDC/TFs%2B500/"
)

#: relative path in the cache -> (original address, SHA-256 of the file)
REGISTRY: dict[str, tuple[str, str]] = {
    "deepruot/emt.csv": (
        _RAW + "zhenyiizhang/DeepRUOTv2/6b9594b8308e8b15a3f3567cc8e1bde014b0745f/data/emt.csv",
        "820eca0ca6a9b8c5aba970dda04052b2e2ea4489b712b948559fe5cd185a8294",
    ),
    "tigon/EMT.npy": (
        _RAW + _TIGON + "Input/EMT.npy",
        "0dbb720ccfbd6c9cb6f4d7fd214c7a86c8577332bd2b2b163dffdc87ec23364f",
    ),
    "tigon/AE_EMT_time.csv": (
        _RAW + _TIGON + "EMT_data/AE_EMT_time.csv",
        "45d9a094e64d8a14c3193e9baae307fe89d5b92f798d659cb731fcc9a431ffbb",
    ),
    "tigon/Lineage.npy": (
        _RAW + _TIGON + "Input/Lineage.npy",
        "b963f114d2d215767f88aa4daf15d591941502d40961308ecd4cc66682c86607",
    ),
    "beeline_mdc/BL--ExpressionData.csv": (
        _RAW + _GENELINK + "BL--ExpressionData.csv",
        "17a950843297b18d693df77919a173f2a72370c8fa482b23e86126c601583bd3",
    ),
    "wot_tests/days.csv.gz": (
        _RAW + _WOT + "days.csv.gz",
        "71b6e2aa001c7e599aec7dbef1420086e32c06d4750933af0e508f6851dd7d1d",
    ),
    "wot_tests/diffusion_map.csv.gz": (
        _RAW + _WOT + "diffusion_map.csv.gz",
        "428377ae2850604d2774236c8394d68afe3a0ef909c57698b352a943f8208253",
    ),
    "wot_tests/growth_scores.csv.gz": (
        _RAW + _WOT + "growth_scores.csv.gz",
        "9f66b134264e53c5efd09032bd70c909975a26bc14a729ecd9b7de058d0af740",
    ),
}

_CHUNK = 1 << 20


class ChecksumError(OSError):
    """A cached or downloaded file does not have the SHA-256 it should have."""


def data_dir() -> Path:
    """Cache folder for downloaded data: ``$WF_SC_DATA_DIR`` if set, else ``~/.cache/wf_sc``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wf_sc"


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(relpath: str) -> Path:
    """Path to a verified local copy of a registered data file, downloading it once if needed.

    An existing file is verified and returned; nothing is downloaded then. A missing file is
    downloaded from its original address to a temporary file in the same folder, verified, and
    moved into place atomically, so a failed or corrupt download never leaves a file behind.

    Parameters
    ----------
    relpath
        Key of :data:`REGISTRY`, e.g. ``"tigon/EMT.npy"``.

    Returns
    -------
    Path of the verified file under :func:`data_dir`.

    Raises
    ------
    ChecksumError
        If the cached or downloaded file has the wrong SHA-256.
    """
    if relpath not in REGISTRY:
        raise KeyError(f"Unknown data file {relpath!r}; known files: {sorted(REGISTRY)}.")
    url, expected = REGISTRY[relpath]
    target = data_dir() / relpath
    if target.exists():
        actual = sha256(target)
        if actual != expected:
            raise ChecksumError(
                f"Cached file {target} has SHA-256 {actual}, expected {expected}. It is corrupt or "
                f"a different version: delete it and it will be downloaded again from {url}."
            )
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s to %s", url, target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumError(
                f"Download of {relpath} from {url} has SHA-256 {actual}, expected {expected}; "
                "the file was discarded. Retry later; if it persists the remote file changed: "
                f"place a verified copy at {target} by hand."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
