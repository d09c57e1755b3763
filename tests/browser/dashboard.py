"""The dashboard as a person uses it, for the browser tests: log in, go to a view, fill and send a form, read
what the page shows. Waits are for what the page shows, never for a fixed time."""

from __future__ import annotations

from pathlib import Path

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

# Long enough for a busy 2-core machine; the live feed polls every 3 s.
WAIT_SECONDS = 20


class Dashboard:
    def __init__(self, driver: WebDriver, base_url: str, screenshots: Path | None = None):
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.screenshots = screenshots

    # --- finding things ------------------------------------------------------------------------------------

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Clicks the element, found again if a live list redrew it between finding and clicking."""
        def clicked():
            self.find(css).click()
            return True
        self.wait(clicked, f"could not click {css}")

    def wait(self, condition, message: str, seconds: float = WAIT_SECONDS):
        def check(driver):
            try:
                return condition()
            except StaleElementReferenceException:
                return False
        return WebDriverWait(self.driver, seconds, poll_frequency=0.1).until(check, message)

    def visible(self, css: str):
        return self.wait(lambda: self.find_all(css) and self.find(css).is_displayed() and self.find(css),
                         f"{css} did not show")

    def text_of(self, css: str) -> str:
        return self.find(css).text

    def wait_text(self, css: str, predicate, message: str) -> str:
        """Waits until the text of `css` satisfies predicate(text); returns it."""
        return self.wait(lambda: (lambda t: t if predicate(t) else False)(self.find(css).text),
                         f"{message} (the last text of {css}: {self.safe_text(css)!r})")

    def texts(self, css: str, count: int) -> list[str]:
        """The texts of the `count` elements `css` matches, read again if the page re-renders them meanwhile
        (the live feed redraws tables)."""
        return self.wait(lambda: (lambda found: found if len(found) == count else False)(
            [element.text for element in self.find_all(css)]),
            f"{css} did not match {count} elements")

    def safe_text(self, css: str) -> str:
        try:
            return self.find(css).text
        except Exception:  # noqa: BLE001 - only for a failure message
            return "<absent>"

    def view(self) -> str:
        return self.driver.execute_script("return document.body.dataset.view || ''")

    def wait_view(self, name: str):
        self.wait(lambda: self.view() == name, f"the {name} view did not show (now {self.view()!r})")

    # --- doing things -----------------------------------------------------------------------------------------

    def open(self, path: str = "/"):
        self.driver.get(self.base_url + path)

    def type(self, css: str, text: str):
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def paste(self, css: str, text: str):
        """Puts `text` into a field the way a paste does: the whole text at once, one input event."""
        self.driver.execute_script(
            "const field = arguments[0]; field.focus(); field.value = arguments[1];"
            "field.dispatchEvent(new InputEvent('input', {bubbles: true, inputType: 'insertFromPaste'}));",
            self.find(css), text)

    def api_requests(self, path: str, method: str | None = None) -> list[dict]:
        """The requests the page made to `path` (the start of the URL's path) since it loaded, as recorded by a
        wrapper around fetch that `record_requests` put in: {method, path, key (the Idempotency-Key)}."""
        return self.driver.execute_script(
            "return (window.__requests || []).filter(r => r.path.startsWith(arguments[0])"
            " && (!arguments[1] || r.method === arguments[1]))", path, method)

    def record_requests(self, lose_answers_to: str | None = None, times: int = 0):
        """Wraps the page's fetch to note every request (see api_requests). With `lose_answers_to`, the first
        `times` requests to that path still reach the server, but their answers are lost on the way back: the
        page sees a network failure, as when a connection drops after the server did the work."""
        self.driver.execute_script("""
            const [losePath, times] = arguments;
            const real = window.fetch;
            let lost = 0;
            window.__requests = [];
            window.fetch = async (url, init = {}) => {
              const path = new URL(String(url), location.href).pathname;
              const headers = init.headers || {};
              window.__requests.push({method: init.method || 'GET', path, key: headers['Idempotency-Key'] || null});
              const answer = await real(url, init);
              if (losePath && path.startsWith(losePath) && lost < times) {
                lost += 1;
                await answer.text();
                throw new TypeError('Failed to fetch');
              }
              return answer;
            };""", lose_answers_to, times)

    def submit(self, form_css: str):
        self.find(f"{form_css} button[type=submit]").click()

    def status(self, form_css: str) -> str:
        return self.wait_text(f"{form_css} .form-status", lambda t: t != "", f"{form_css} showed no result")

    def log_in_with_token(self, token: str):
        self.open("/")
        self.visible("#token-input")
        self.type("#token-input", token)
        self.submit("#token-form")
        self.wait_view("service")

    def log_in(self, username: str, password: str):
        self.visible("#login-username")
        self.type("#login-username", username)
        self.type("#login-password", password)
        self.submit("#login-form")
        self.wait_view("user")

    def log_out(self):
        self.find("#logout").click()
        self.wait_view("login")

    def screenshot(self, name: str) -> Path | None:
        if self.screenshots is None:
            return None
        path = self.screenshots / f"{name}.png"
        # The whole page, not just the window: the document's height at this width.
        width, height = self.driver.get_window_size()["width"], self.driver.get_window_size()["height"]
        full = self.driver.execute_script("return Math.max(document.documentElement.scrollHeight, innerHeight)")
        self.driver.set_window_size(width, max(height, min(int(full) + 140, 4000)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(width, height)
        return path

    def console_problems(self) -> list[str]:
        """Console errors other than the API's refusals (a 4xx in the network log is expected in some tests):
        a Content-Security-Policy violation or a script error shows here."""
        problems = []
        for entry in self.driver.get_log("browser"):
            message = entry.get("message", "")
            if entry.get("level") != "SEVERE":
                continue
            if "/api/" in message and "Failed to load resource" in message:
                continue
            problems.append(message)
        return problems
