"""The search page in a real browser: headless Chromium driven by Selenium.

Debian's `chromium` and `chromium-driver` (.ci/run installs them); Selenium
gets both paths explicitly and never runs Selenium Manager (no driver
download). Without them the test skips, saying so. The page is the running
server of `search_page` (tests/search/conftest.py: the trained demo fixture,
a gallery of its demo world with known labels). A person's session:

  1. Search with nothing given: the server's one-line error is shown.
  2. Type "a blue circle": most of the top 8 are blue circles.
  3. Text "blue" at weight 8 (this short-trained model needs a large text
     weight against an image: tests/evaluation/trained_demo_eval_test.py),
     then drop a red circle's image: blue circles rank above red ones.
  4. Click a result: it becomes the image query and finds itself first.
  5. The screenshot is not blank: thumbnails drawn, blue ones among them.
"""
import os

import numpy as np
from PIL import Image
import pytest
from selenium import webdriver
from selenium.webdriver.chrome import service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-quic", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")
WAIT_SECONDS = 60
IMAGE_QUERY_TEXT_WEIGHT = 8


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  """A headless Chromium session (skips if Chromium is not installed)."""
  missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
  if missing:
    pytest.skip(f"Chromium is not installed ({', '.join(missing)} missing; "
                "`apt-get install -y chromium chromium-driver`, as .ci/run "
                "does).")
  # Selenium Manager would download a driver; it must never run.
  previous = os.environ.get("SE_MANAGER_PATH")
  os.environ["SE_MANAGER_PATH"] = "/bin/false"
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in CHROMIUM_FLAGS:
    options.add_argument(flag)
  options.add_argument(
      f"--user-data-dir={tmp_path_factory.mktemp('chromium_profile')}")
  driver = webdriver.Chrome(
      service=service.Service(executable_path=CHROMEDRIVER), options=options)
  try:
    yield driver
  finally:
    driver.quit()
    if previous is None:
      os.environ.pop("SE_MANAGER_PATH", None)
    else:
      os.environ["SE_MANAGER_PATH"] = previous


def _results_seq(driver):
  return int(driver.find_element(By.ID, "results").get_attribute("data-seq"))


def _wait_for_answer(driver, after_seq, state="done"):
  """Waits for the answer to a query newer than `after_seq`; returns the
  shown result ids, best first."""
  results = driver.find_element(By.ID, "results")

  def answered(_):
    return (results.get_attribute("data-state") == state and
            int(results.get_attribute("data-seq")) > after_seq)

  WebDriverWait(driver, WAIT_SECONDS).until(answered)
  return [f.get_attribute("data-id")
          for f in results.find_elements(By.CSS_SELECTOR, "figure.result")]


def _set_slider(driver, slider_id, value):
  """Moves a slider with the arrow keys (a change event per step)."""
  slider = driver.find_element(By.ID, slider_id)
  step = float(slider.get_attribute("step"))
  steps = int(round((value - float(slider.get_attribute("value"))) / step))
  key = Keys.ARROW_RIGHT if steps > 0 else Keys.ARROW_LEFT
  for _ in range(abs(steps)):
    seq = _results_seq(driver)
    slider.send_keys(key)
    _wait_for_answer(driver, seq)
  assert float(slider.get_attribute("value")) == value
  assert float(driver.find_element(By.ID, f"{slider_id}-value").text) == value


def test_search_page_in_chromium(search_page, browser, tmp_path):
  driver = browser
  labels = search_page.labels
  driver.get(search_page.url)
  WebDriverWait(driver, WAIT_SECONDS).until(
      lambda d: d.find_element(By.TAG_NAME, "body").get_attribute(
          "data-ready") == "true")
  assert str(len(search_page.index)) in driver.find_element(
      By.ID, "index-info").text

  # 1. Nothing to search with: the server's message, shown as an error.
  driver.find_element(By.ID, "search-button").click()
  _wait_for_answer(driver, 0, state="error")
  status = driver.find_element(By.ID, "status")
  assert "query is empty" in status.text
  assert "error" in status.get_attribute("class")

  # 2. A text query.
  text = driver.find_element(By.ID, "text")
  seq = _results_seq(driver)
  text.send_keys("a blue circle", Keys.ENTER)
  shown = _wait_for_answer(driver, seq)
  assert len(shown) == 24  # The default top_k.
  top8 = [labels[i]["pair"] for i in shown[:8]]
  assert sum(p == "blue circle" for p in top8) >= 5, top8

  # 3. A red circle's image plus "blue".
  top_k = driver.find_element(By.ID, "top-k")
  top_k.clear()
  top_k.send_keys("48")
  text.clear()
  text.send_keys("blue")
  _set_slider(driver, "image-weight", 1.0)
  _set_slider(driver, "text-weight", IMAGE_QUERY_TEXT_WEIGHT)
  seq = _results_seq(driver)
  driver.find_element(By.ID, "image-file").send_keys(search_page.red_circle)
  shown = _wait_for_answer(driver, seq)
  assert driver.find_element(By.ID, "query-image").is_displayed()
  assert len(shown) == 48
  pairs = [labels[i]["pair"] for i in shown]
  blue = [rank for rank, p in enumerate(pairs) if p == "blue circle"]
  red = [rank for rank, p in enumerate(pairs) if p == "red circle"]
  assert len(blue) >= 3, pairs
  assert all(b < r for b in blue for r in red), (blue, red)
  assert sum(labels[i]["colour"] == "blue" for i in shown[:8]) >= 6, pairs
  screenshot = str(tmp_path / "search_page.png")
  WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.execute_script(
      "return [...document.querySelectorAll('#results img')].every("
      "img => img.complete && img.naturalWidth > 0);"))
  assert driver.save_screenshot(screenshot)

  # 4. A clicked result is the next image query (the text cleared: the
  # image alone finds the item itself first).
  text.clear()
  clicked = shown[2]
  seq = _results_seq(driver)
  driver.find_elements(By.CSS_SELECTOR, "figure.result")[2].click()
  shown = _wait_for_answer(driver, seq)
  assert shown[0] == clicked
  assert "/api/thumbnail" in driver.find_element(
      By.ID, "query-image").get_attribute("src")

  # 5. The screenshot of step 3 shows the page with its thumbnails.
  with Image.open(screenshot) as picture:
    assert picture.format == "PNG" and picture.size[0] >= 1000
    pixels = np.asarray(picture.convert("RGB")).astype(np.int32)
  assert pixels.std() > 20
  assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
  # Blue shapes drawn (the demo world's blue is (30, 60, 230)).
  shape_blue = ((pixels[..., 2] > 180) & (pixels[..., 0] < 80) &
                (pixels[..., 1] < 110))
  assert shape_blue.sum() > 2000
