"""A real `streamlit run` server over a fixture snapshot, screenshotted by headless Chromium."""

from __future__ import annotations

import os
import shutil
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
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    try:
        WebDriverWait(driver, PAGE_TIMEOUT).until(
            lambda d: all(text in _page_text(d) for text in must_show)
        )
        WebDriverWait(driver, PAGE_TIMEOUT).until(
            lambda d: (
                len(d.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"))
                >= charts
            )
        )
    except TimeoutException:
        drawn = len(driver.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"))
        pytest.fail(
            f"{url}: waited for {must_show} and {charts} charts; {drawn} charts drawn, page text:"
            f"\n{_page_text(driver)}"
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


# page path → (texts that must show, charts that must draw, more texts to check)
PAGES: dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]] = {
    "": (
        ("Overview", "Model LOSES to production: -0.8 points [-1.0, -0.7]"),
        2,
        ("Model beats popularity: +12.4 points [+12.2, +12.6]", "feed-2024-03-02", "34.4%"),
    ),
    "model": (
        ("Model detail", "feed-2024-03-02 on 2024-03-02"),
        6,
        ("Reliability diagram: click", "Training loss per epoch", "warm-started from"),
    ),
    "gate": (
        ("Model gate", "feed-2024-03-03 failed the gate and was NOT promoted"),
        0,
        ("Promoted model now: feed-2024-03-02", "log_loss_vs_previous"),
    ),
    "replay": (("Replay contribution rate", "14.96%"), 2, ("95% CI 29.91% – 39.13%",)),
    "data_health": (
        ("Data health", "training_examples_quality FAILED on 2024-03-03"),
        3,
        ("Long-dwell thresholds by cluster", "Label rates, train rows"),
    ),
    "ablation": (("Ablation", "Each step vs the row above"), 1, ("+ residual DCN",)),
    "explore": (("Explore / exploit", "Top slot changed by a draw"), 2, ("33.0%", "15,000 rows")),
    "popularity": (("Random effects", "click: AUC lift"), 1, ("95% CI +0.0060 to +0.0140",)),
    "ads": (
        ("Ads CTR", "Model LOSES to production on auc"),
        3,
        ("95% CI -0.0110 to -0.0050", "Calibration: website_visit, 2024-03-02", "pCTR × bid"),
    ),
    "jobs": (
        ("Jobs", "Model beats production on apply_auc"),
        3,
        ("Qualified-application rate, top 1", "vs production +1.00 points [+0.20, +1.80]"),
    ),
}
SCREENSHOTS_ENV = "LIRANK_DASHBOARD_SCREENSHOTS"
"""A folder to copy each page's screenshot into (e.g. `docs/` for the README's)."""


@pytest.mark.timeout(300)
def test_every_page_renders_in_chromium(server, browser, tmp_path):
    keep = os.environ.get(SCREENSHOTS_ENV)
    for page, (must_show, charts, also) in PAGES.items():
        text = _load(browser, f"{server}/{page}", must_show, charts=charts)
        assert all(item in text for item in also), (page, [i for i in also if i not in text])
        # "lift" only where each one has its interval (the random effects page)
        assert (page == "popularity" or "lift" not in text.lower()) and "Traceback" not in text
        shot = tmp_path / f"dashboard-{page or 'overview'}.png"
        assert browser.save_screenshot(str(shot))
        _assert_non_trivial_png(shot)
        if keep:
            shutil.copyfile(shot, Path(keep) / shot.name)
