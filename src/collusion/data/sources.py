"""Where the paper's raw data comes from, and how one source is fetched.

A source is one file at a URL. ``fetch`` streams it to a temporary name next to its final place,
checks the checksum(s) it knows, and only then renames it to ``resources/raw/<source>/<filename>``
and, for archives, extracts it into ``resources/raw/<source>/extracted/`` (again through a
temporary directory and a rename). A bad checksum deletes the download and raises
:class:`ChecksumError` naming the file, the expected and the actual checksum; nothing that looks
complete is ever left behind. Every fetch writes ``<filename>.sha256`` (``sha256sum -c`` format)
next to the file, so a source without a published checksum (the UCI archives) can be pinned in the
config after its first download.

urllib handles http(s):// and file:// URLs alike; the tests serve archives through file://.
A network error (refused, reset, timed out, cut short) is retried here, after the delays in
``RETRY_DELAYS_S``; a checksum mismatch is not retried (the same URL would serve the same bytes),
so the download rules set ``retries: 0`` whatever the profile says.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

logger = logging.getLogger(__name__)

RAW_ROOT = Path("resources/raw")
CHUNK = 1 << 20
TIMEOUT_S = 60
RETRY_DELAYS_S = (10, 60)  # seconds before the 2nd and 3rd attempt after a network error


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    filename: str
    md5: str | None = None  # published by the data's authors
    sha256: str | None = None  # pinned in the config (data.sha256.<name>)
    archive: bool = False  # extract into <dir>/extracted after verification
    pin_sha256: bool = False  # no published checksum: ask the user to pin the sha256

    def directory(self, root: str | Path = RAW_ROOT) -> Path:
        return Path(root) / self.name

    def path(self, root: str | Path = RAW_ROOT) -> Path:
        return self.directory(root) / self.filename

    def record(self, root: str | Path = RAW_ROOT) -> Path:
        return self.directory(root) / f"{self.filename}.sha256"

    def extracted(self, root: str | Path = RAW_ROOT) -> Path:
        return self.directory(root) / "extracted"

    def outputs(self, root: str | Path = RAW_ROOT) -> dict[str, str]:
        """What ``fetch`` leaves behind: the file, its sha256 record and (archives) the extracted tree."""
        outputs = {"file": str(self.path(root)), "record": str(self.record(root))}
        if self.archive:
            outputs["extracted"] = str(self.extracted(root))
        return outputs


_UCI = "https://archive.ics.uci.edu/static/public"

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "cifar10",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            md5="c58f30108f718f92721af3b95e74349a",
            archive=True,
        ),
        Source(
            "cifar100",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "cifar-100-python.tar.gz",
            md5="eb9058c3a382ffc7106e4002c42a8d85",
            archive=True,
        ),
        Source(
            "svhn_train",
            "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
            "train_32x32.mat",
            md5="e26dedcc434d2e4c54c9b2d4a06d8373",
        ),
        Source(
            "svhn_test",
            "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
            "test_32x32.mat",
            md5="eb5a983be6a315427106f1b164d9cef3",
        ),
        Source(
            "tiny_imagenet",
            "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
            "tiny-imagenet-200.zip",
            md5="90528d7ca1a48142e341f4ef8d21d0de",
            archive=True,
        ),
        Source(
            "uci_bioconcentration",
            f"{_UCI}/510/qsar+bioconcentration+classes+dataset.zip",
            "qsar_bioconcentration.zip",
            archive=True,
            pin_sha256=True,
        ),
        Source(
            "uci_weather",
            f"{_UCI}/514/bias+correction+of+numerical+prediction+model+temperature+forecast.zip",
            "bias_correction_temperature.zip",
            archive=True,
            pin_sha256=True,
        ),
        Source(
            "uci_facebook",
            f"{_UCI}/368/facebook+metrics.zip",
            "facebook_metrics.zip",
            archive=True,
            pin_sha256=True,
        ),
        Source(
            "uci_abalone", f"{_UCI}/1/abalone.zip", "abalone.zip", archive=True, pin_sha256=True
        ),
    ]
}


class ChecksumError(RuntimeError):
    """A downloaded file does not have the expected checksum (it has been deleted)."""


class DownloadError(RuntimeError):
    """The transfer failed or was cut short (nothing was kept)."""


class ArchiveError(RuntimeError):
    """A verified download could not be extracted (archive and partial extraction deleted)."""


def configured_source(name: str, data_config: dict | None = None) -> Source:
    """The registered source ``name`` with the overrides of the config's ``data`` section.

    ``data.urls.<name>`` replaces the URL (a mirror, or file:// for an offline copy),
    ``data.md5.<name>`` the published md5, and ``data.sha256.<name>`` pins a sha256 (null: none).
    """
    if name not in SOURCES:
        raise ValueError(f"unknown data source {name!r}; allowed: {', '.join(SOURCES)}")
    data_config = data_config or {}
    source = SOURCES[name]
    changes = {}
    for key, field in (("urls", "url"), ("md5", "md5"), ("sha256", "sha256")):
        value = (data_config.get(key) or {}).get(name)
        if value is not None:
            changes[field] = value.lower() if field != "url" else value
    return replace(source, **changes)


def fetch(
    source: Source, root: str | Path = RAW_ROOT, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
) -> Path:
    """Download, verify, (extract) ``source`` under ``root``; return the verified file's path.

    A network error is retried after each of ``retry_delays_s``; a checksum mismatch fails at once.
    """
    directory = source.directory(root)
    directory.mkdir(parents=True, exist_ok=True)
    final = source.path(root)
    handle, tmp_name = tempfile.mkstemp(
        dir=directory, prefix=f".{source.filename}.", suffix=".part"
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        for attempt, delay in enumerate([*retry_delays_s, None], start=1):
            logger.info("%s: downloading %s (attempt %d)", source.name, source.url, attempt)
            try:
                digests = _stream(source, tmp)
                break
            except DownloadError as error:
                if delay is None:
                    raise DownloadError(f"{error} (gave up after {attempt} attempts)") from error
                logger.warning("%s; retrying in %g s", error, delay)
                time.sleep(delay)
        _verify(source, final, digests)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    _write_record(source.record(root), final.name, digests["sha256"])
    logger.info(
        "%s: %s verified (md5 %s, sha256 %s)", source.name, final, digests["md5"], digests["sha256"]
    )
    if source.pin_sha256 and source.sha256 is None:
        logger.warning(
            "%s: no sha256 is pinned, so this download was not verified. It has sha256 %s "
            "(recorded in %s). Pin it by adding to config/config.yaml:\n"
            "  data:\n    sha256:\n      %s: %s",
            source.name,
            digests["sha256"],
            source.record(root),
            source.name,
            digests["sha256"],
        )
    if source.archive:
        _extract(source, root)
    return final


def _stream(source: Source, tmp: Path) -> dict[str, str]:
    """Copy the URL's body into ``tmp``, hashing it on the way; refuse short transfers."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    received = 0
    try:
        with (
            urllib.request.urlopen(source.url, timeout=TIMEOUT_S) as response,
            open(tmp, "wb") as out,
        ):
            length = response.headers.get("Content-Length")
            while block := response.read(CHUNK):
                out.write(block)
                md5.update(block)
                sha256.update(block)
                received += len(block)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DownloadError(
            f"{source.name}: downloading {source.url} failed after {received} bytes: {error}. "
            "Nothing was kept. Run again later, or set "
            f"data.urls.{source.name} in the config to a mirror or a file:// copy"
        ) from error
    if length is not None and received != int(length):
        raise DownloadError(
            f"{source.name}: {source.url} was cut short: received {received} of {length} bytes. "
            "Nothing was kept; run again later"
        )
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def _verify(source: Source, final: Path, digests: dict[str, str]) -> None:
    for kind in ("md5", "sha256"):
        expected = getattr(source, kind)
        if expected is not None and digests[kind] != expected:
            setting = f"data.{kind}.{source.name}"
            raise ChecksumError(
                f"{final} from {source.url}: {kind} mismatch: expected {expected}, "
                f"got {digests[kind]}. The download was deleted. If it was interrupted or "
                f"corrupted, run again; if the publisher changed the file on purpose, check it "
                f"and set {setting} in the config to the new value."
            )


def _write_record(path: Path, filename: str, sha256: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(f"{sha256}  {filename}\n")
    os.replace(tmp, path)


def _extract(source: Source, root: str | Path) -> Path:
    """Unpack the verified archive into ``extracted/``; on failure delete archive and partial tree."""
    archive, target = source.path(root), source.extracted(root)
    staging = Path(
        tempfile.mkdtemp(dir=source.directory(root), prefix=".extracted.", suffix=".part")
    )
    try:
        if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
        else:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)
        source.record(root).unlink(missing_ok=True)
        raise ArchiveError(
            f"{source.name}: {archive.name} could not be extracted ({error}); the archive was "
            f"deleted. Run again to download it afresh"
            + (
                f", and pin data.sha256.{source.name} in the config once a download works."
                if source.sha256 is None and source.md5 is None
                else "."
            )
        ) from error
    logger.info("%s: extracted into %s", source.name, target)
    return target
