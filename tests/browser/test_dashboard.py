"""The dashboard in a real browser (headless chromium through Selenium), against the real stack through nginx:
the service view, a person's own page, money moving, errors at their fields, the live feed, names with HTML and
Unicode, a double click, and a phone-sized screen. Money is checked through the API as well as on the page."""

from __future__ import annotations

import time
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import DESKTOP, PHONE
from dashboard import Dashboard
from tally_e2e import new_password


def tagged(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def created_user_id(page: Dashboard) -> int:
    """The id of the user the create form just made, from the link in its result."""
    status = page.status("#create-form")
    assert status.startswith("Created "), status
    link = page.find("#create-form .form-status a")
    return int(link.get_attribute("href").rsplit("/", 1)[1])


def create_user(page: Dashboard, name: str, balance: str = "", username: str = "", password: str = "") -> int:
    page.type("#create-name", name)
    page.type("#create-balance", balance)
    page.type("#create-username", username)
    page.type("#create-password", password)
    previous = page.safe_text("#create-form .form-status")
    page.submit("#create-form")
    page.wait_text("#create-form .form-status", lambda t: t != previous and t != "", "no result for create")
    return created_user_id(page)


def no_horizontal_scroll(page: Dashboard) -> bool:
    return page.driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_day_with_the_dashboard(browser, base_url, admin_token, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)

    # The log-in page: both ways in, every control labelled.
    page.open("/")
    page.visible("#login-username")
    for control in page.find_all("input"):
        control_id = control.get_attribute("id")
        assert page.find_all(f"label[for='{control_id}']"), f"input #{control_id} has no label"
    page.screenshot("01-login")

    # A token that is not valid is refused at its field.
    page.type("#token-input", "tly_" + "x" * 43)
    page.submit("#token-form")
    page.wait_text("#token-input-error", lambda t: "not valid" in t, "a bad token was not refused")
    assert not page.find("#notice").is_displayed(), "a refused token is not a session that ended"

    # --- the service view -------------------------------------------------------------------------------------
    page.log_in_with_token(admin_token)
    page.wait_text("#stat-users", lambda t: t not in ("", "–"), "the totals did not load")
    users_before = api.get("/api/stats").json()["users"]

    tag = tagged("Dash")
    # 100 characters with HTML and Unicode in it: it must show as the very text, never as markup.
    html_name = f"<b>{tag}</b> <img src=x onerror=alert(1)> Zoë 🚀 Ünïcødé ".ljust(100, "é")
    assert len(html_name) == 100
    username, password = tagged("ada").lower(), new_password()
    ada = create_user(page, html_name, "1,250.00", username, password)
    bob = create_user(page, f"Bob {tag}")
    assert api.user(ada)["balance"] == "1250.00"
    assert api.user(ada)["name"] == html_name
    assert api.user(bob)["balance"] == "0.00"

    # A bad initial balance is refused at its field, before anything is sent.
    page.type("#create-name", "Nobody")
    page.type("#create-balance", "12.345")
    page.submit("#create-form")
    page.wait_text("#create-balance-error", lambda t: "amount" in t, "a bad balance was not refused at its field")
    page.type("#create-name", "")
    page.type("#create-balance", "")

    # Search by name: exactly the two users, the HTML name shown as text (no <b> or <img> made of it).
    page.type("#search-name", tag)
    page.find("#search-name").send_keys(Keys.ENTER)
    page.wait(lambda: len(page.find_all("#users-table tbody tr")) == 2, "the search did not find exactly 2 users")
    names = page.texts("#users-table tbody td.name", 2)
    assert names[0] == html_name.strip() or names[0] == html_name, names
    assert not page.find_all("#users-table tbody b") and not page.find_all("#users-table tbody img")
    assert page.texts("#users-table tbody td.user-balance", 2) == ["1,250.00", "0.00"]
    page.wait_text("#stat-users", lambda t: int(t.replace(",", "")) >= users_before + 2, "the totals did not move")
    page.screenshot("02-service")

    # The service role opens any user's page from the table.
    page.click(f"#users-table a[href='#/users/{bob}']")
    page.wait_view("user")
    page.wait_text("#user-name", lambda t: t.startswith("Bob"), "Bob's page did not open")
    page.wait_text("#user-balance", lambda t: t == "0.00", "Bob's balance")
    page.log_out()

    # --- Ada's own page ---------------------------------------------------------------------------------------
    page.log_in(username, password)
    page.wait_text("#user-balance", lambda t: t == "1,250.00", "Ada's balance did not show")
    assert page.text_of("#user-name") == html_name.rstrip() or page.text_of("#user-name") == html_name
    assert not page.find_all("#user-name b, #user-name img")
    assert page.find("#user-crumbs").is_displayed() is False  # a person has no list of all users

    # Transfer: the new balance in the result, the balance box, the history; the API agrees.
    page.type("#transfer-to", str(bob))
    page.type("#transfer-amount", "12.34")
    page.type("#transfer-memo", "lunch <i>not italic</i>")
    page.submit("#transfer-form")
    result = page.status("#transfer-form")
    assert "New balance: 1,237.66" in result, result
    page.wait_text("#user-balance", lambda t: t == "1,237.66", "the balance did not change")
    first_row = page.wait_text("#history-table tbody tr:first-child", lambda t: "12.34" in t,
                               "the transfer is not in the history")
    assert "Sent" in first_row and "lunch <i>not italic</i>" in first_row and "1,237.66" in first_row, first_row
    assert api.balance_minor(ada) == 123766 and api.balance_minor(bob) == 1234

    # An overdraft: the API's message at the amount field, nothing moved.
    page.type("#transfer-to", str(bob))
    page.type("#transfer-amount", "5,000.00")
    page.submit("#transfer-form")
    error = page.wait_text("#transfer-amount-error", lambda t: t != "", "the overdraft error did not show")
    assert "Insufficient funds" in error and "1237.66" in error, error
    assert page.find("#transfer-amount").get_attribute("aria-invalid") == "true"
    assert api.balance_minor(ada) == 123766

    # A transfer to nobody: the API's 404 message in the form.
    page.type("#transfer-to", "9223372036854775807")
    page.type("#transfer-amount", "1.00")
    page.submit("#transfer-form")
    assert "no user" in page.status("#transfer-form").lower()
    page.screenshot("03-user-errors")

    # A double click on Send moves the money once.
    transfers_before = [e for e in api.get(f"/api/users/{ada}/transactions", params={"limit": 100}).json()["items"]
                        if e["kind"] == "transfer_out"]
    page.type("#transfer-to", str(bob))
    page.type("#transfer-amount", "1.00")
    page.type("#transfer-memo", "double click")
    ActionChains(page.driver).double_click(page.find("#transfer-form button[type=submit]")).perform()
    assert "New balance: 1,236.66" in page.status("#transfer-form")
    transfers_after = [e for e in api.get(f"/api/users/{ada}/transactions", params={"limit": 100}).json()["items"]
                       if e["kind"] == "transfer_out"]
    assert len(transfers_after) == len(transfers_before) + 1
    assert api.balance_minor(ada) == 123666 and api.balance_minor(bob) == 1334

    # An amount the API refuses (beyond the largest balance): its message at the amount field.
    page.type("#deposit-amount", "92233720368547758.08")
    page.submit("#deposit-form")
    error = page.wait_text("#deposit-amount-error", lambda t: t != "", "the API's amount error did not show")
    assert "amount" in error, error
    assert api.balance_minor(ada) == 123666

    # Deposit and withdraw through the page.
    page.type("#deposit-amount", "10")
    page.submit("#deposit-form")
    assert "New balance: 1,246.66" in page.status("#deposit-form")
    page.type("#withdraw-amount", "0.66")
    page.submit("#withdraw-form")
    assert "New balance: 1,246.00" in page.status("#withdraw-form")
    assert api.balance_minor(ada) == 124600

    # The live feed: a withdrawal posted as an event elsewhere appears, with its alert, without a reload.
    t = int(time.time()) + 3600  # above the second the page's own deposit and withdrawal took
    answer = api.event("withdraw", "150.00", ada, t)
    assert answer.status_code == 200 and 1100 in answer.json()["alert_codes"], answer.text
    page.wait_text("#user-alerts", lambda text: "1100" in text and "150.00" in text, "the alert did not appear")
    page.wait_text("#user-balance", lambda text: text == "1,096.00", "the balance did not follow the event")
    page.wait_text("#history-table tbody tr:first-child", lambda text: "Withdrawal" in text and "150.00" in text,
                   "the event's movement did not appear in the history")
    page.wait(lambda: len(page.find_all("#chart svg .chart-dot")) >= 6, "the chart does not show the history")
    page.screenshot("04-user")

    # A person cannot open someone else's page: they are taken back to their own.
    page.open(f"/#/users/{bob}")
    page.wait_text("#notice", lambda text: "only your own" in text, "no word about another's page")
    page.wait_text("#user-name", lambda text: text.startswith("<b>"), "not back on Ada's own page")

    # Keyboard: the transfer form can be filled and sent with keys alone.
    page.click("#transfer-to")
    ActionChains(page.driver).send_keys(str(bob), Keys.TAB, "2.00", Keys.TAB, "by keyboard", Keys.ENTER).perform()
    assert "New balance: 1,094.00" in page.status("#transfer-form")

    # --- a phone-sized screen -----------------------------------------------------------------------------------
    page.driver.set_window_size(*PHONE)
    page.wait(lambda: page.driver.execute_script("return innerWidth") <= PHONE[0], "the window did not shrink")
    assert no_horizontal_scroll(page), "the user page scrolls sideways on a phone"
    for css in ("#user-balance", "#transfer-amount", "#deposit-amount", "#withdraw-amount", "#logout"):
        element = page.find(css)
        assert element.is_displayed() and element.size["width"] > 0, css
        assert element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= PHONE[0] + 1, css
    page.screenshot("05-user-phone")
    page.log_out()
    page.log_in_with_token(admin_token)
    page.wait_text("#users-table tbody", lambda text: text != "", "the users table did not load on a phone")
    assert no_horizontal_scroll(page), "the service view scrolls sideways on a phone"
    page.screenshot("06-service-phone")
    page.driver.set_window_size(*DESKTOP)

    # Logging out forgets the token: the page asks to log in again after a reload.
    page.log_out()
    assert "logged out" in page.text_of("#notice")
    page.open("/")
    page.wait_view("login")
    assert page.driver.execute_script("return sessionStorage.length") == 0

    assert page.console_problems() == []


def test_a_session_that_ends_returns_to_the_log_in(browser, base_url, api, screenshots):
    """The page's token stops working (revoked elsewhere): the next request brings the log-in back."""
    page = Dashboard(browser, base_url, screenshots)
    username, password = tagged("cy").lower(), new_password()
    created = api.create_user("Cy", "5.00", username=username, password=password)
    assert created.status_code == 201, created.text
    page.open("/")
    page.log_in(username, password)
    page.wait_text("#user-balance", lambda t: t == "5.00", "Cy's balance did not show")
    token = page.driver.execute_script("return sessionStorage.getItem('tally.token')")
    assert api.post("/api/auth/logout", token=token).status_code == 200
    page.wait_view("login")
    page.wait_text("#notice", lambda t: "log in again" in t, "no word that the session ended")
    assert page.console_problems() == []


def test_log_out_revokes_a_persons_token_whether_logged_in_or_pasted(browser, base_url, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    username, password = tagged("di").lower(), new_password()
    assert api.create_user("Di", "1.00", username=username, password=password).status_code == 201
    page.open("/")
    page.log_in(username, password)
    logged_in = page.driver.execute_script("return sessionStorage.getItem('tally.token')")
    assert page.find_all("#revoke") and not page.find("#revoke").is_displayed(), "Revoke token is for the service"
    page.log_out()
    assert page.text_of("#notice") == "You are logged out."
    assert api.get("/api/me", token=logged_in).status_code == 401

    # A person's token pasted in the token form is revoked by Log out too.
    pasted = api.login(username, password).json()["token"]
    page.type("#token-input", pasted)
    page.submit("#token-form")
    page.wait_view("user")
    page.log_out()
    assert api.get("/api/me", token=pasted).status_code == 401
    assert page.console_problems() == []


def test_log_out_keeps_a_pasted_service_token_valid_and_says_so(browser, base_url, api, screenshots,
                                                                 mint_service_token):
    page = Dashboard(browser, base_url, screenshots)
    token = mint_service_token()
    page.log_in_with_token(token)
    assert page.find("#revoke").is_displayed()
    page.log_out()
    notice = page.text_of("#notice")
    assert "stays valid" in notice and "Revoke token" in notice, notice
    assert page.driver.execute_script("return sessionStorage.length") == 0
    assert api.get("/api/me", token=token).status_code == 200
    assert page.console_problems() == []


def test_revoke_token_revokes_the_pasted_service_token(browser, base_url, api, screenshots, mint_service_token):
    page = Dashboard(browser, base_url, screenshots)
    token = mint_service_token()
    page.log_in_with_token(token)
    page.click("#revoke")
    page.wait_view("login")
    page.wait_text("#notice", lambda t: "revoked" in t, "no word that the token was revoked")
    assert "no longer works" in page.text_of("#notice")
    assert page.driver.execute_script("return sessionStorage.length") == 0
    assert api.get("/api/me", token=token).status_code == 401
    assert page.console_problems() == []


def test_the_api_reference_renders_the_openapi_document(browser, base_url, screenshots):
    import yaml

    page = Dashboard(browser, base_url, screenshots)
    page.open("/docs")
    page.wait(lambda: page.find_all(".op"), "/docs rendered no operation")
    spec = yaml.safe_load(page.driver.execute_script(
        "return fetch('/openapi.yaml').then(r => r.text())"))
    operations = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    shown = {element.get_attribute("id") for element in page.find_all(".op")}
    assert shown == {f"op-{operation}" for operation in operations}
    schemas = {element.get_attribute("id") for element in page.find_all(".schema")}
    assert schemas == {f"schema-{name}" for name in spec["components"]["schemas"]}
    assert page.text_of("h1").startswith(spec["info"]["title"])
    page.screenshot("07-docs")

    assert page.console_problems() == []


def test_a_hidden_tab_asks_nothing_and_catches_up_when_shown(browser, base_url, admin_token, api, screenshots):
    """The live feed polls only while the tab is visible (document.hidden, visibilitychange)."""
    page = Dashboard(browser, base_url, screenshots)
    page.log_in_with_token(admin_token)
    page.wait_text("#feed-movements", lambda t: t != "", "the feed did not load")
    api_requests = ("return performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/api/')).length")
    page.driver.execute_script("performance.setResourceTimingBufferSize(100000)")
    # Polls happen while the tab is visible.
    seen = page.driver.execute_script(api_requests)
    page.wait(lambda: page.driver.execute_script(api_requests) > seen, "the visible page did not poll")

    page.driver.execute_script("""
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));""")
    hidden_at = page.driver.execute_script(api_requests)
    time.sleep(7.5)  # more than two poll intervals (3 s): a visible page would have asked twice
    assert page.driver.execute_script(api_requests) == hidden_at, "the hidden tab kept polling"

    # Something happens meanwhile; shown again, the page catches up at once.
    user = api.create_user(tagged("Hidden "), "3.21")
    assert user.status_code == 201
    page.driver.execute_script("""
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));""")
    page.wait_text("#feed-movements", lambda t: f"#{user.json()['id']}" in t, "the feed did not catch up")
    assert page.console_problems() == []
