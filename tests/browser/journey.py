"""A patient's journey in a real browser: each step is checked for accessibility (axe-core: no
serious or critical violations), checked at a 375-pixel-wide viewport (no sideways scrolling, axe
again), and saved as a screenshot at both widths."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

DESKTOP = {"width": 1280, "height": 900}
PHONE_WIDTH = 375
BLOCKING_IMPACTS = ("serious", "critical")
_AXE = Axe()


class AccessibilityError(AssertionError):
    pass


@dataclass
class Journey:
    page: Page
    folder: Path
    steps: list[str] = field(default_factory=list)

    def goto(self, url: str, step: str | None = None) -> "Journey":
        self.page.goto(url)
        if step:
            self.check(step)
        return self

    def check(self, step: str) -> Path:
        """Accessibility at desktop and phone widths, no sideways scrolling on a phone, and a
        screenshot of each (``NN-step.png``, ``NN-step-375.png``). Returns the desktop screenshot."""
        self.page.wait_for_load_state("load")
        number = len(self.steps) + 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        self.steps.append(slug)
        self.folder.mkdir(parents=True, exist_ok=True)
        shot = self.folder / f"{number:02d}-{slug}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        self._axe(step, "desktop")
        size = self.page.viewport_size or DESKTOP
        self.page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        try:
            self.page.screenshot(path=str(self.folder / f"{number:02d}-{slug}-375.png"), full_page=True)
            overflow = self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{step}: the page scrolls sideways by {overflow}px at {PHONE_WIDTH}px wide"
            self._axe(step, f"{PHONE_WIDTH}px")
        finally:
            self.page.set_viewport_size(size)
        return shot

    def _axe(self, step: str, width: str) -> None:
        results = _AXE.run(self.page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        if blocking:
            report = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                       "nodes": [n.get("html", "")[:200] for n in v["nodes"][:5]]} for v in blocking]
            (self.folder / f"axe-{len(self.steps):02d}.json").write_text(json.dumps(report, indent=2))
            raise AccessibilityError(f"{step} ({width}, {self.page.url}): axe found serious or critical "
                                     f"violations:\n{json.dumps(report, indent=2)}")

    # -- readable steps ----------------------------------------------------------------------------
    def click(self, role: str, name: str, *, exact: bool = True) -> None:
        self.page.get_by_role(role, name=name, exact=exact).click()

    def sign_in_at_carekey(self, username: str, password: str, step: str | None = "CareKey sign-in") -> None:
        """On CareKey's sign-in page: the username and password, then "Sign in"."""
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()
        if step:
            self.check(step)
        self.page.get_by_label("Username or email").fill(username)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.click("button", "Sign in")

    def choose_person(self, name: str, step: str | None = None) -> None:
        """On CareKey's "Whose records?" page."""
        expect(self.page.get_by_role("heading", name="Whose records?")).to_be_visible()
        if step:
            self.check(step)
        self.page.get_by_label(name, exact=False).check()
        self.click("button", "Continue")

    def main_text(self) -> str:
        return self.page.locator("main").inner_text()
