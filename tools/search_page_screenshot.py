# Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
r"""Screenshot of a running search page after a query (docs/search_page.png).

  .venv/bin/python -m official.align.search serve \
      --index_dir=runs/demo/index --hub_dir=runs/demo/export &
  .venv/bin/python tools/search_page_screenshot.py --text="a blue circle" \
      --output=docs/search_page.png [--image=query.jpg --text_weight=8]

Drives Debian's headless Chromium (`apt-get install chromium
chromium-driver`) with Selenium (requirements-test.txt), as
tests/search/search_page_browser_test.py does: types the text, sets the
weights, drops the image, waits for the thumbnails, saves the PNG.
"""
import argparse
import os
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome import service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-quic", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
WAIT_SECONDS = 60


def _set(driver, element_id, value):
  """Sets an input's value as a person would leave it (input + change)."""
  driver.execute_script(
      "const e = document.getElementById(arguments[0]);"
      "e.value = arguments[1];"
      "e.dispatchEvent(new Event('input'));"
      "e.dispatchEvent(new Event('change'));",
      element_id, str(value))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--url", default="http://127.0.0.1:8080/")
  parser.add_argument("--text", default="a blue circle")
  parser.add_argument("--image", default=None, help="Query image file.")
  parser.add_argument("--image_weight", type=float, default=1.0)
  parser.add_argument("--text_weight", type=float, default=2.0)
  parser.add_argument("--top_k", type=int, default=16)
  parser.add_argument("--width", type=int, default=1200)
  parser.add_argument("--height", type=int, default=830,
                      help="Window height (the page gets about 140 px less).")
  parser.add_argument("--output", default="docs/search_page.png")
  args = parser.parse_args(argv)
  os.environ["SE_MANAGER_PATH"] = "/bin/false"  # Never download a driver.
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in CHROMIUM_FLAGS + (f"--window-size={args.width},{args.height}",
                                f"--user-data-dir={tempfile.mkdtemp()}"):
    options.add_argument(flag)
  driver = webdriver.Chrome(
      service=service.Service(executable_path=CHROMEDRIVER), options=options)
  try:
    driver.get(args.url)
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute(
        "data-ready") == "true")
    _set(driver, "top-k", args.top_k)
    _set(driver, "image-weight", args.image_weight)
    _set(driver, "text-weight", args.text_weight)
    driver.find_element(By.ID, "text").send_keys(args.text)
    if args.image:
      driver.find_element(By.ID, "image-file").send_keys(
          os.path.abspath(args.image))
    else:
      driver.find_element(By.ID, "search-button").click()
    wait.until(lambda d: d.find_element(By.ID, "results").get_attribute(
        "data-state") == "done")
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#results img')].every("
        "img => img.complete && img.naturalWidth > 0);"))
    driver.save_screenshot(args.output)
    ids = [f.get_attribute("data-id") for f in driver.find_elements(
        By.CSS_SELECTOR, "figure.result")]
    print(f"Wrote {args.output}; results: {ids}")
  finally:
    driver.quit()
  return 0


if __name__ == "__main__":
  sys.exit(main())
