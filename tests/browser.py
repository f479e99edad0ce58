"""A real browser for the dashboard's tests: Debian's Chromium, headless, driven through
its chromedriver by Selenium (``scripts/install-chromium`` installs both), and
``progressive dashboard`` run as the program it is, on a free port of 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("PROGRESSIVE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PROGRESSIVE_CHROMEDRIVER", "/usr/bin/chromedriver")
#: The flags the closed network needs (no background connections), and no sandbox (root).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1200,480",
)
WAIT = 30.0  # seconds a page may take to show what a test waits for (a loaded machine)


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile, quit afterwards."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(WAIT)
            yield driver
        finally:
            driver.quit()


@contextlib.contextmanager
def dashboard(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``progressive ARGS... dashboard --port 0`` running; yields its URL.  On the way
    out it is stopped with Ctrl-C (SIGINT) and must exit within 10 seconds."""
    command = [sys.executable, "-m", "progressive", *args, "dashboard", "--port", "0"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", **(env or {})},
    )
    try:
        assert process.stdout is not None
        line = _first_line(process, WAIT)
        assert line.startswith("progressive dashboard: http://127.0.0.1:"), line
        yield line.split()[2]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("the dashboard did not stop on Ctrl-C within 10s") from None
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        assert code in (0, 130), f"exit {code}: {stderr}"


def _first_line(process: subprocess.Popen[bytes], seconds: float) -> str:
    """The first line the process prints, within ``seconds`` (its stderr if it ends)."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = process.stdout.readline().decode()
                if line:
                    return line.strip()
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"the dashboard exited {process.returncode}: {err}")
    raise AssertionError(f"the dashboard printed nothing within {seconds}s")


def wait_for(driver: WebDriver, what: str, probe: Callable[[WebDriver], Any]) -> Any:
    """``probe(driver)`` once it is truthy (WAIT seconds at most), failing with ``what``."""
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(probe, f"waited for {what}")


def text_of(driver: WebDriver, css: str) -> str:
    """The text of the first element ``css`` selects ("" when there is none), read in
    one step (the page redraws its parts as the stream speaks)."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    return str(driver.execute_script(script, css)).strip()


def texts_of(driver: WebDriver, css: str) -> list[str]:
    """The texts of every element ``css`` selects, read in one step."""
    script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText);"
    return [str(t).strip() for t in driver.execute_script(script, css)]


def attributes_of(driver: WebDriver, css: str, name: str) -> list[str | None]:
    """Attribute ``name`` of every element ``css`` selects, read in one step."""
    script = (
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((e) => e.getAttribute(arguments[1]));"
    )
    return list(driver.execute_script(script, css, name))


def status_is(driver: WebDriver, word: str) -> bool:
    return text_of(driver, "#status .status").endswith(word)


def press(driver: WebDriver, action: str) -> None:
    """Click an action's button (the bar of buttons is drawn once per page); the ones
    that ask "Sure?" are clicked twice."""
    button = driver.find_element(By.ID, f"action-{action}")
    danger = "danger" in (button.get_attribute("class") or "")
    button.click()
    if danger:
        wait_for(driver, f"{action} to ask Sure?", lambda d: "Sure?" in button.text)
        button.click()


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save the whole page, below the window too, into docs/images/NAME.png (the docs
    show these), through the DevTools protocol."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    chrome: Any = driver
    size = chrome.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = chrome.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": clip},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
