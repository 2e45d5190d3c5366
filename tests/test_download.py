"""srstudy.stages.video.download against a real HTTP server on 127.0.0.1 (nothing mocked)."""

import functools
import hashlib
import http.server
import socket
import subprocess
import sys
import threading

import pytest
import yaml
from conftest import REPO, TEST_CONFIG
from srstudy.stages.video import VideoError, download

PAYLOAD = bytes(range(256)) * 4099  # ~1 MB: more than one read block
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    (root / "clip.mp4").write_bytes(PAYLOAD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_checks_size_and_checksum(server, tmp_path):
    dest = tmp_path / "resources" / "clip.mp4"
    assert download(f"{server}/clip.mp4", dest, size=len(PAYLOAD), sha256=DIGEST) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["clip.mp4"]


def test_download_without_expectations(server, tmp_path):
    dest = tmp_path / "clip.mp4"
    download(f"{server}/clip.mp4", dest)
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    "size, sha256, message",
    [(len(PAYLOAD) + 1, None, "bytes, expected"), (None, "0" * 64, "corrupt or not the configured file")],
)
def test_a_wrong_file_is_refused_and_leaves_nothing(server, tmp_path, size, sha256, message):
    dest = tmp_path / "clip.mp4"
    with pytest.raises(VideoError, match=message) as error:
        download(f"{server}/clip.mp4", dest, size=size, sha256=sha256)
    assert leftovers(tmp_path) == []
    assert str(dest.resolve()) in str(error.value)


def test_http_error_says_what_to_do(server, tmp_path):
    with pytest.raises(VideoError, match="HTTP 404") as error:
        download(f"{server}/missing.mp4", tmp_path / "clip.mp4")
    assert "put it at" in str(error.value)
    assert leftovers(tmp_path) == []


def test_offline_says_where_to_put_the_file_by_hand(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "resources" / "bbb.mp4"
    url = f"http://127.0.0.1:{port}/bbb.mp4"
    with pytest.raises(VideoError) as error:
        download(url, dest, sha256=DIGEST, timeout=5)
    message = str(error.value)
    assert "may be offline" in message and url in message
    assert f"put it at '{dest.resolve()}'" in message and DIGEST in message
    assert not dest.exists()


# --- the download_video rule, run by Snakemake ---------------------------------------------


def run_download_rule(workdir, url):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["video"] = {"path": "resources/clip.mp4", "url": url, "size": len(PAYLOAD), "sha256": DIGEST}
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "resources/clip.mp4", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(configfile), "--cores", "1"]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)


def test_rule_downloads_a_missing_video(server, tmp_path):
    result = run_download_rule(tmp_path, f"{server}/clip.mp4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule download_video" in result.stdout + result.stderr
    assert (tmp_path / "resources/clip.mp4").read_bytes() == PAYLOAD


def test_rule_offline_fails_with_the_manual_step_in_its_log(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_download_rule(tmp_path, f"http://127.0.0.1:{port}/clip.mp4")
    assert result.returncode != 0
    log = (tmp_path / "results/logs/download_video/resources/clip.mp4.log").read_text()
    assert "may be offline" in log and "put it at" in log
    assert not (tmp_path / "resources/clip.mp4").exists()
