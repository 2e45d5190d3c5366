"""Progress bars: in place on a terminal, a few lines in a job's log."""

import os
import select
import time

from srstudy.base import joblog
from srstudy.base.joblog import progress_bar


def test_a_log_file_gets_a_few_whole_lines(tmp_path):
    log = tmp_path / "job.log"
    with open(log, "w") as stream:
        bar = progress_bar(range(200_000), file=stream, desc="epoch 1/1")
        for step in bar:
            bar.set_postfix(loss=f"{1 / (step + 1):.3g}")
    text = log.read_text()
    assert "\r" not in text
    lines = text.splitlines()
    # 200,000 refreshes in well under LOG_INTERVAL seconds: the start and the end only.
    assert 1 <= len(lines) <= 3, lines
    assert "200000/200000" in lines[-1] and len(text) < 500


def test_a_log_file_gets_a_line_every_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(joblog, "LOG_INTERVAL", 0.05)
    log = tmp_path / "job.log"
    with open(log, "w") as stream:
        for _ in progress_bar(range(40), file=stream):
            time.sleep(0.01)  # 0.4 s in all: about 8 intervals
    lines = log.read_text().splitlines()
    assert 3 <= len(lines) <= 12, lines
    assert all(line.strip() for line in lines) and "40/40" in lines[-1]


def test_a_terminal_gets_a_bar_refreshed_in_place():
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            for _ in progress_bar(range(5), file=terminal):
                pass
        output = b""
        while select.select([leader], [], [], 0.5)[0]:  # a terminal delivers the writes in pieces
            output += os.read(leader, 65536)
        output = output.decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert "\r" in output and "5/5" in output
