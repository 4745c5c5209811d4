"""What a person does in the workbench, as Playwright steps: sign in, open a task, draw in image
coordinates (read from the surface's ``data-image-rect``), submit, review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import SCREENSHOTS, VIEWPORT

Box = tuple[float, float, float, float]  # left, top, right, bottom (0..1)
Points = list[tuple[float, float]]  # (x, y) 0..1


def open_page(browser: Any, base_url: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    return page


def sign_in(page: Any, user_id: str, token: str, shot: str | None = None) -> None:
    page.goto("/")
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_label("User id").fill(user_id)
    page.get_by_label("Personal access token or app key").fill(token)
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My work").wait_for()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def image_rect(page: Any, surface: Any = None) -> tuple[float, float, float, float]:
    """The image's rectangle on the page: left, top, width, height (CSS px)."""
    surface = surface or page.locator(".surface").first
    box = surface.bounding_box()
    left, top, width, height = (float(v) for v in surface.get_attribute("data-image-rect").split(","))
    return box["x"] + left, box["y"] + top, width, height


def at(page: Any, x: float, y: float) -> tuple[float, float]:
    left, top, width, height = image_rect(page)
    return left + x * width, top + y * height


def draw_box(page: Any, box: Box) -> None:
    page.keyboard.press("b")
    page.mouse.move(*at(page, box[0], box[1]))
    page.mouse.down()
    page.mouse.move(*at(page, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2), steps=4)
    page.mouse.move(*at(page, box[2], box[3]), steps=4)
    page.mouse.up()


def draw_polygon(page: Any, points: Points) -> None:
    page.keyboard.press("p")
    for x, y in points:
        page.mouse.click(*at(page, x, y))
    page.mouse.click(*at(page, *points[0]))  # clicking the first point closes it


def current_input(page: Any) -> str:
    return str(page.get_by_test_id("input-id").inner_text())


_UNLABELLED = """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !((el.getAttribute('aria-label') || el.innerText || '').trim()
      || (el.labels && el.labels.length) || el.getAttribute('aria-labelledby') || el.title))
  .map((el) => el.outerHTML.slice(0, 160))"""


def assert_controls_labelled(page: Any) -> None:
    """Every visible control has an accessible name (text, aria-label or a <label>); all of them are
    native controls, so the keyboard reaches them."""
    assert page.evaluate(_UNLABELLED) == []
