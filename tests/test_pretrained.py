"""Pretrained generators by name: fetched once from a real local HTTP server, resumed, verified.

The server is test_download's `DatasetServer` on 127.0.0.1; it serves a file in the official
layout (a resnet_9blocks, ngf 64, exported from our own weights). No test contacts the internet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_download import DatasetServer

from cyclegan_lit.inference.checkpoints import load_generator
from cyclegan_lit.inference.pretrained import (
    CACHE_ENV,
    DEFAULT_PRETRAINED_URL,
    PRETRAINED,
    PRETRAINED_URL_ENV,
    PretrainedDownloadError,
    default_cache_dir,
    fetch_pretrained,
    pretrained_table,
    pretrained_url,
)
from cyclegan_lit.networks import build_generator, export_reference_generator

FAST = {"progress": False, "retries": 2, "backoff_s": 0.01, "timeout_s": 10.0}
NAMES = [
    "apple2orange",
    "orange2apple",
    "summer2winter_yosemite",
    "winter2summer_yosemite",
    "horse2zebra",
    "zebra2horse",
    "monet2photo",
    "style_monet",
    "style_cezanne",
    "style_ukiyoe",
    "style_vangogh",
    "sat2map",
    "map2sat",
    "cityscapes_photo2label",
    "cityscapes_label2photo",
    "facades_photo2label",
    "facades_label2photo",
    "iphone2dslr_flower",
]


def _generator_file(folder: Path, **options) -> bytes:
    torch.manual_seed(0)
    net = build_generator("resnet_9blocks", 3, 3, **options)
    return export_reference_generator(net, folder / "latest_net_G.pth").read_bytes()


@pytest.fixture(scope="session")
def g9_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What `<name>.pth` on the server holds: one resnet_9blocks generator, ngf 64 (~45 MB)."""
    return _generator_file(tmp_path_factory.mktemp("g9"))


@pytest.fixture
def server():
    with DatasetServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch, tmp_path):
    """Neither the user's cache nor a URL from the environment leaks into a test."""
    monkeypatch.delenv(PRETRAINED_URL_ENV, raising=False)
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def files_under(root: Path) -> list[str]:
    """Every file a run left, lock files aside."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
    )


def test_download_once_then_cached(server, tmp_path, g9_bytes):
    server.files["/horse2zebra.pth"] = g9_bytes
    cache = tmp_path / "cache"
    path = fetch_pretrained("horse2zebra", cache, server.url, **FAST)

    assert path == cache / "pretrained" / "horse2zebra.pth"
    assert path.read_bytes() == g9_bytes
    assert files_under(cache) == ["pretrained/horse2zebra.pth"]
    assert [r["path"] for r in server.requests] == ["/horse2zebra.pth"]
    loaded = load_generator(path)
    assert (loaded.input_nc, loaded.output_nc) == (3, 3)

    # cached: no request, even with an unreachable server
    assert fetch_pretrained("horse2zebra", cache, server.url, **FAST) == path
    assert fetch_pretrained("horse2zebra", cache, "http://127.0.0.1:9", **FAST) == path
    assert len(server.requests) == 1


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path, g9_bytes):
    server.files["/zebra2horse.pth"] = g9_bytes
    server.drop_first = 1
    path = fetch_pretrained("zebra2horse", tmp_path, server.url, **FAST)
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(g9_bytes) // 2}-"]
    assert path.read_bytes() == g9_bytes
    assert files_under(tmp_path) == ["pretrained/zebra2horse.pth"]


def test_a_failed_download_keeps_only_the_part_file_and_the_next_call_resumes(
    server, tmp_path, g9_bytes
):
    server.files["/style_monet.pth"] = g9_bytes
    server.drop_first = 1
    with pytest.raises(PretrainedDownloadError) as err:
        fetch_pretrained("style_monet", tmp_path, server.url, **{**FAST, "retries": 0})
    message = str(err.value)
    assert "\n" not in message
    assert f"{server.url}/style_monet.pth" in message and "resumes next time" in message
    assert files_under(tmp_path) == ["pretrained/style_monet.pth.part"]

    path = fetch_pretrained("style_monet", tmp_path, server.url, **FAST)
    assert server.requests[-1]["range"] == f"bytes={len(g9_bytes) // 2}-"
    assert path.read_bytes() == g9_bytes
    assert files_under(tmp_path) == ["pretrained/style_monet.pth"]


def test_a_2017_style_file_is_accepted(server, tmp_path):
    """The official files predate torch's zip format and carry old InstanceNorm buffers."""
    torch.manual_seed(0)
    net = build_generator("resnet_9blocks", 3, 3)
    state = net.state_dict()
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.InstanceNorm2d):
            state[f"{name}.running_mean"] = torch.zeros(module.num_features)
            state[f"{name}.running_var"] = torch.ones(module.num_features)
    legacy = tmp_path / "legacy.pth"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    server.files["/facades_label2photo.pth"] = legacy.read_bytes()
    path = fetch_pretrained("facades_label2photo", tmp_path / "cache", server.url, **FAST)
    assert path.read_bytes() == legacy.read_bytes()


@pytest.mark.parametrize("kind", ["html", "truncated", "other-network"])
def test_a_file_that_is_not_a_generator_is_refused_and_deleted(server, tmp_path, g9_bytes, kind):
    if kind == "html":
        body = b"<!DOCTYPE html><html><body>Service moved</body></html>"
    elif kind == "truncated":
        body = g9_bytes[: len(g9_bytes) // 3]
    else:
        body = _generator_file(tmp_path / "small", ngf=8)
    server.files["/monet2photo.pth"] = body
    cache = tmp_path / "cache"
    with pytest.raises(PretrainedDownloadError) as err:
        fetch_pretrained("monet2photo", cache, server.url, **FAST)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{server.url}/monet2photo.pth: not ")
    assert "was deleted" in message and PRETRAINED_URL_ENV in message
    assert {"html": "HTML", "truncated": "truncated", "other-network": "ngf 64"}[kind] in message
    assert files_under(cache) == []


def test_unknown_name_suggests_the_closest(server, tmp_path):
    with pytest.raises(ValueError) as err:
        fetch_pretrained("horse2zebr", tmp_path / "cache", server.url, **FAST)
    message = str(err.value)
    assert message == (
        f"pretrained='horse2zebr': unknown name; did you mean 'horse2zebra'? "
        f"known: {', '.join(NAMES)}"
    )
    with pytest.raises(ValueError, match=r"^pretrained='xyz': unknown name; known: apple2orange"):
        fetch_pretrained("xyz", tmp_path / "cache", server.url, **FAST)
    assert server.requests == []
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("fail_first", "expected", "attempts"),
    [(0, "HTTP 404 Not Found; check the name", 1), (100, "HTTP 503", 3)],
    ids=["404", "503"],
)
def test_a_failed_download_names_the_url_and_what_to_do(
    server, tmp_path, fail_first, expected, attempts
):
    server.fail_first = fail_first  # no file is served: a 404 once the 503s stop
    with pytest.raises(PretrainedDownloadError) as err:
        fetch_pretrained("sat2map", tmp_path, server.url, **FAST)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {server.url}/sat2map.pth: ")
    assert expected in message
    assert "pretrained_url" in message and PRETRAINED_URL_ENV in message
    assert ("try again later" in message) == (attempts > 1)
    assert len(server.requests) == attempts
    assert files_under(tmp_path) == []


def test_no_server_says_try_again(tmp_path):
    with DatasetServer() as gone:
        url = gone.url
    with pytest.raises(PretrainedDownloadError) as err:
        fetch_pretrained("map2sat", tmp_path, url, **{**FAST, "retries": 1})
    message = str(err.value)
    assert "\n" not in message
    assert f"could not download {url}/map2sat.pth: connection failed" in message
    assert "try again later" in message and PRETRAINED_URL_ENV in message
    assert files_under(tmp_path) == []


def test_an_unusable_url_fails_at_once(tmp_path):
    with pytest.raises(PretrainedDownloadError, match="must be an http"):
        fetch_pretrained("map2sat", tmp_path, "ftp://example.org/models", **FAST)


def test_environment_gives_the_cache_and_the_url(server, tmp_path, monkeypatch, g9_bytes):
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "cyclegan_lit"
    assert pretrained_url() == DEFAULT_PRETRAINED_URL
    assert DEFAULT_PRETRAINED_URL.startswith("https://efrosgans.eecs.berkeley.edu/cyclegan/")

    server.files["/models/iphone2dslr_flower.pth"] = g9_bytes
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env_cache"))
    monkeypatch.setenv(PRETRAINED_URL_ENV, server.url + "/models/")
    assert default_cache_dir() == tmp_path / "env_cache"
    assert pretrained_url() == server.url + "/models"
    assert pretrained_url("http://mirror/x") == "http://mirror/x"

    path = fetch_pretrained("iphone2dslr_flower", progress=False)
    assert path == tmp_path / "env_cache" / "pretrained" / "iphone2dslr_flower.pth"
    assert [r["path"] for r in server.requests] == ["/models/iphone2dslr_flower.pth"]

    # arguments win over the environment
    with pytest.raises(PretrainedDownloadError, match="HTTP 404"):
        fetch_pretrained("iphone2dslr_flower", tmp_path / "arg_cache", server.url, **FAST)
    assert server.requests[-1]["path"] == "/iphone2dslr_flower.pth"


def test_the_table_lists_every_name_and_what_is_cached(tmp_path, monkeypatch):
    assert list(PRETRAINED) == NAMES
    assert all(s.filename == f"{s.name}.pth" for s in PRETRAINED.values())
    assert all(s.num_bytes is None and s.sha256 is None for s in PRETRAINED.values())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "style_vangogh.pth").write_bytes(b"weights")

    lines = pretrained_table().splitlines()
    assert lines[0].split() == ["name", "translates", "cached"]
    rows = {line.split()[0]: line for line in lines[1 : 1 + len(NAMES)]}
    assert list(rows) == NAMES
    assert rows["horse2zebra"].split()[1:] == ["horse", "->", "zebra", "-"]
    assert rows["style_vangogh"].endswith("yes")
    assert sum(row.endswith("yes") for row in rows.values()) == 1
    assert str(tmp_path / "pretrained") in lines[-1]
    assert pretrained_table(tmp_path / "elsewhere").count("yes") == 0
