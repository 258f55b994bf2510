"""A real `streamlit run` server over a fixture snapshot, screenshotted by headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1500,1150",
)
STARTUP_TIMEOUT = 60
PAGE_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit not healthy after {STARTUP_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture
def server(snapshot, tmp_path):
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "LIRANK_REVIEW_SNAPSHOT": str(snapshot)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboards/app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


@pytest.fixture
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian chromium + chromium-driver (`make browser`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def _page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _load(driver, url: str, must_show: tuple[str, ...], charts: int) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: all(text in _page_text(d) for text in must_show)
    )
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg")) >= charts
        )
    )
    time.sleep(1.5)  # let the charts finish their first paint before the screenshot
    return _page_text(driver)


def _assert_non_trivial_png(path: Path) -> None:
    from PIL import Image, ImageStat

    assert path.stat().st_size > 30_000
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        assert rgb.size[0] >= 1000 and rgb.size[1] >= 700
        assert max(ImageStat.Stat(rgb).stddev) > 10  # not a blank page
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 200


@pytest.mark.timeout(180)
def test_leaderboard_and_replay_render_in_chromium(server, browser, tmp_path):
    text = _load(browser, server, ("Model leaderboard", "Model LOSES to production"), charts=2)
    assert "Model beats popularity" in text and "95% CI -0.0097 to -0.0073" in text
    assert "34.38%" in text and "0.7350" in text and "Incremental" in text
    assert "lift" not in text.lower()
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    _assert_non_trivial_png(shot)

    text = _load(browser, f"{server}/heads", ("Per-head offline metrics", "1.0210"), charts=3)
    assert "0.7200" in text and "0.2980" in text
    shot = tmp_path / "heads.png"
    assert browser.save_screenshot(str(shot))
    _assert_non_trivial_png(shot)

    text = _load(browser, f"{server}/replay", ("Replay contribution rate", "14.96%"), charts=2)
    assert "95% CI 29.91% – 39.13%" in text
    shot = tmp_path / "replay.png"
    assert browser.save_screenshot(str(shot))
    _assert_non_trivial_png(shot)
