"""Download, verification and extraction of raw sources, offline (file:// and 127.0.0.1 URLs)."""

from __future__ import annotations

import hashlib
import http.server
import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from collusion.data import sources
from collusion.data.imagenet import ImageNetMissing, check_imagenet, read_manifest
from collusion.data.sources import (
    SOURCES,
    ArchiveError,
    ChecksumError,
    DownloadError,
    configured_source,
    fetch,
)
from data.raw_formats import IMAGENET_WNIDS, make_cifar10, make_imagenet, make_uci
from pipeline_helpers import TINY, copy_workflow, snakemake


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture(scope="module")
def cifar_archive(tmp_path_factory):
    return make_cifar10(tmp_path_factory.mktemp("served"))[0]


def test_registry_matches_torchvision_published_md5s():
    datasets = pytest.importorskip("torchvision.datasets")
    assert SOURCES["cifar10"].md5 == datasets.CIFAR10.tgz_md5
    assert SOURCES["cifar100"].md5 == datasets.CIFAR100.tgz_md5
    for split in ("train", "test"):
        url, filename, checksum = datasets.SVHN.split_list[split]
        source = SOURCES[f"svhn_{split}"]
        assert (source.url, source.filename, source.md5) == (url, filename, checksum)
    uci = [s for s in SOURCES.values() if s.name.startswith("uci_")]
    assert len(uci) == 4 and all(s.pin_sha256 and s.md5 is None and s.sha256 is None for s in uci)


def test_config_overrides_url_and_checksums():
    data = {
        "urls": {"uci_abalone": "file:///x/abalone.zip"},
        "sha256": {"uci_abalone": "AB" * 32},
        "md5": {"cifar10": None},
    }
    source = configured_source("uci_abalone", data)
    assert source.url == "file:///x/abalone.zip" and source.sha256 == "ab" * 32
    assert configured_source("cifar10", data) == SOURCES["cifar10"]  # null keeps the published md5
    with pytest.raises(ValueError, match="unknown data source 'mnist'.*cifar10"):
        configured_source("mnist")


def test_fetch_verifies_renames_and_extracts(tmp_path, cifar_archive):
    source = replace(SOURCES["cifar10"], url=cifar_archive.as_uri(), md5=md5(cifar_archive))
    path = fetch(source, tmp_path)
    assert path == tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    assert path.read_bytes() == cifar_archive.read_bytes()
    assert (
        source.record(tmp_path).read_text() == f"{sha256(cifar_archive)}  cifar-10-python.tar.gz\n"
    )
    batches = source.extracted(tmp_path) / "cifar-10-batches-py"
    assert sorted(p.name for p in batches.iterdir()) == [
        "batches.meta",
        *[f"data_batch_{i}" for i in range(1, 6)],
        "readme.html",
        "test_batch",
    ]
    assert leftovers(tmp_path / "cifar10") == [
        "cifar-10-python.tar.gz",
        "cifar-10-python.tar.gz.sha256",
        "extracted",
    ]


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_bad_archive_is_deleted_before_extraction(tmp_path, cifar_archive, damage):
    payload = bytearray(cifar_archive.read_bytes())
    if damage == "corrupted":
        payload[len(payload) // 2] ^= 0xFF
    else:
        payload = payload[: len(payload) // 2]
    served = tmp_path / "served" / cifar_archive.name
    served.parent.mkdir()
    served.write_bytes(payload)
    expected = md5(cifar_archive)
    source = replace(SOURCES["cifar10"], url=served.as_uri(), md5=expected)
    with pytest.raises(ChecksumError) as error:
        fetch(source, tmp_path / "raw")
    message = str(error.value)
    assert "cifar-10-python.tar.gz" in message and expected in message and md5(served) in message
    assert "data.md5.cifar10" in message
    assert leftovers(tmp_path / "raw" / "cifar10") == []  # no archive, no record, no extraction


def test_pinned_sha256_mismatch_names_both_values(tmp_path):
    archive, _ = make_uci(tmp_path, "abalone")
    wrong = "0" * 64
    source = replace(SOURCES["uci_abalone"], url=archive.as_uri(), sha256=wrong)
    with pytest.raises(
        ChecksumError,
        match=f"abalone.zip.*sha256 mismatch: expected {wrong}, got {sha256(archive)}",
    ):
        fetch(source, tmp_path / "raw")
    assert leftovers(tmp_path / "raw" / "uci_abalone") == []


def test_unpinned_download_records_sha256_and_says_how_to_pin(tmp_path, caplog):
    archive, _ = make_uci(tmp_path, "abalone")
    source = configured_source("uci_abalone", {"urls": {"uci_abalone": archive.as_uri()}})
    with caplog.at_level(logging.INFO, logger=sources.__name__):
        fetch(source, tmp_path / "raw")
    digest = sha256(archive)
    assert source.record(tmp_path / "raw").read_text() == f"{digest}  abalone.zip\n"
    assert f"  data:\n    sha256:\n      uci_abalone: {digest}" in caplog.text
    assert (source.extracted(tmp_path / "raw") / "abalone.data").is_file()
    # pinning the recorded value makes the next download verified
    pinned = configured_source(
        "uci_abalone",
        {"urls": {"uci_abalone": archive.as_uri()}, "sha256": {"uci_abalone": digest}},
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=sources.__name__):
        fetch(pinned, tmp_path / "raw2")
    assert "no sha256 is pinned" not in caplog.text


def test_truncated_unpinned_zip_fails_extraction_and_leaves_nothing(tmp_path):
    archive, _ = make_uci(tmp_path, "facebook")
    archive.write_bytes(archive.read_bytes()[:-40])  # central directory cut off
    source = replace(SOURCES["uci_facebook"], url=archive.as_uri())
    with pytest.raises(
        ArchiveError,
        match="facebook_metrics.zip could not be extracted.*pin data.sha256.uci_facebook",
    ):
        fetch(source, tmp_path / "raw")
    assert leftovers(tmp_path / "raw" / "uci_facebook") == []


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    requests = 0
    cut_first = 0  # the first requests get 1000 bytes, then the connection closes

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests += 1
        cut = type(self).requests <= self.cut_first
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[:1000] if cut else self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    _Handler.requests = _Handler.cut_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def served_source(server, archive, **changes):
    url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
    _Handler.payload = archive.read_bytes()
    return replace(SOURCES["cifar10"], url=url, **{"md5": md5(archive), **changes})


def test_http_download_and_cut_transfer(tmp_path, http_server, cifar_archive):
    source = served_source(http_server, cifar_archive)
    assert fetch(source, tmp_path / "ok").read_bytes() == cifar_archive.read_bytes()

    _Handler.requests, _Handler.cut_first = 0, 10  # every attempt is cut short
    with pytest.raises(
        DownloadError, match="cifar10: .*(cut short|failed after 1000 bytes).*after 3 attempts"
    ):
        fetch(source, tmp_path / "cut", retry_delays_s=(0, 0))
    assert _Handler.requests == 3
    assert leftovers(tmp_path / "cut" / "cifar10") == []


def test_network_error_is_retried(tmp_path, http_server, cifar_archive, caplog):
    source = served_source(http_server, cifar_archive)
    _Handler.cut_first = 2
    with caplog.at_level(logging.INFO, logger=sources.__name__):
        path = fetch(source, tmp_path / "raw", retry_delays_s=(0, 0))
    assert path.read_bytes() == cifar_archive.read_bytes() and _Handler.requests == 3
    assert caplog.text.count("retrying in 0 s") == 2


def test_checksum_mismatch_is_not_retried(tmp_path, http_server, cifar_archive):
    source = served_source(http_server, cifar_archive, md5="0" * 32)
    with pytest.raises(ChecksumError, match="md5 mismatch"):
        fetch(source, tmp_path / "raw", retry_delays_s=(0, 0))
    assert _Handler.requests == 1
    assert leftovers(tmp_path / "raw" / "cifar10") == []


@pytest.mark.slow
def test_download_rule_fails_once_on_a_checksum_mismatch_despite_global_retries(
    tmp_path, cifar_archive
):
    """`retries: 3` on the download rules used to download a wrong file four times."""
    workdir = copy_workflow(tmp_path / "wd")
    config = yaml.safe_load(TINY.read_text())
    config["data"] = {"urls": {"cifar10": cifar_archive.as_uri()}, "md5": {"cifar10": "0" * 32}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    target = "resources/raw/cifar10/cifar-10-python.tar.gz"
    result = snakemake(
        workdir,
        target,
        "--cores",
        "1",
        "--retries",
        "2",
        "--configfile",
        "config.yaml",
        timeout=300,
    )
    assert result.returncode != 0
    log = (workdir / "logs/data/download_cifar10.log").read_text()
    assert log.count("md5 mismatch") == 1 and log.count("downloading") == 1, log
    assert "Trying to restart" not in result.stdout + result.stderr
    assert not (workdir / target).exists()


def test_missing_imagenet_fails_with_instructions_and_writes_nothing(tmp_path):
    manifest = tmp_path / "raw" / "imagenet_manifest.tsv"
    with pytest.raises(
        ImageNetMissing,
        match=r"(?s)train and .*val must both exist.*train/<wnid>/\*\.JPEG.*image-net.org",
    ):
        check_imagenet(tmp_path / "raw" / "imagenet", manifest)
    (tmp_path / "raw" / "imagenet" / "train" / "n01440764").mkdir(parents=True)
    (tmp_path / "raw" / "imagenet" / "val").mkdir()
    with pytest.raises(ImageNetMissing, match="val must hold class folders"):
        check_imagenet(tmp_path / "raw" / "imagenet", manifest)
    assert leftovers(tmp_path / "raw") == ["imagenet"]


def test_imagenet_manifest_lists_every_image_with_sorted_wnid_classes(tmp_path):
    root = tmp_path / "imagenet"
    make_imagenet(root)
    counts = check_imagenet(root, tmp_path / "manifest.tsv")
    assert counts == {"classes": 3, "train": 9, "val": 12}
    manifest_root, classes, rows = read_manifest(tmp_path / "manifest.tsv")
    assert manifest_root == root and classes == sorted(IMAGENET_WNIDS)
    for split, label, path in rows:
        assert path.split("/")[1] == classes[label] and path.startswith(split + "/")
