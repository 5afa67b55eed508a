"""Airflow 3's web UI as the browser tests see it: log in, Admin → Connections → Add, read a form field,
click a row's Test button and catch the request it sends and the toast it shows.

Every wait is bounded (``WAIT`` seconds); every step can leave a numbered screenshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e._stack import AirflowStack

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Seconds any single UI wait may take (a loaded 2-core machine renders the first page slowly).
WAIT = 60
#: Without the background-networking flags Chromium keeps trying to reach Google's hosts through the
#: closed network; a fresh --user-data-dir keeps runs from sharing state.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)

#: Records every XHR/fetch the page sends to the API, with its body and answer, in window.__msgflashRequests.
_CAPTURE_JS = """
if (!window.__msgflashRequests) {
  window.__msgflashRequests = [];
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__m = method;
    this.__u = String(url);
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function (body) {
    this.addEventListener('loadend', () => window.__msgflashRequests.push({
      method: this.__m, url: this.__u, body: body ?? null, status: this.status, response: this.responseText,
    }));
    return send.apply(this, arguments);
  };
  const origFetch = window.fetch;
  window.fetch = async function (input, init) {
    const r = await origFetch.apply(this, arguments);
    const text = await r.clone().text().catch(() => '');
    window.__msgflashRequests.push({method: (init && init.method) || 'GET', url: String(input.url || input),
      body: (init && init.body) || null, status: r.status, response: text});
    return r;
  };
}
"""


def start_chromium(profile: Path) -> webdriver.Chrome:
    """Headless Debian Chromium through Debian's chromedriver, with a fresh profile folder."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(2 * WAIT)  # the first load parses a 7 MB bundle on a busy machine
    driver.set_script_timeout(WAIT)
    return driver


@dataclass
class FormField:
    """One field of the connection form as rendered: its label, input, placeholder, value, help text."""

    name: str
    label: str
    input_type: str
    placeholder: str
    value: str
    help_text: str


@dataclass
class Toast:
    kind: str  # "success", "error", ...
    title: str
    description: str


class AirflowUI:
    def __init__(self, driver: webdriver.Chrome, airflow: AirflowStack, shots: Path) -> None:
        self.d = driver
        self.airflow = airflow
        self.base = airflow.base_url
        self.shots = shots
        self.wait = WebDriverWait(driver, WAIT, poll_frequency=0.1)
        self._shot_no = 0

    # -- basics ---------------------------------------------------------------------------------------
    def shot(self, name: str) -> Path:
        self._shot_no += 1
        path = self.shots / f"{self._shot_no:02d}-{name}.png"
        self.d.save_screenshot(str(path))
        return path

    def until(self, condition: Any, what: str) -> Any:
        try:
            return self.wait.until(condition)
        except TimeoutException:
            path = self.shot("timeout")
            raise AssertionError(f"UI: {what} did not happen within {WAIT} s (screenshot {path})") from None

    def clickable(self, by: str, value: str, what: str) -> WebElement:
        return self.until(ec.element_to_be_clickable((by, value)), f"{what} clickable")

    def login(self) -> None:
        """Log in as the simple auth manager's admin (password generated in AIRFLOW_HOME)."""
        pw_file = self.airflow.home / "simple_auth_manager_passwords.json.generated"  # see conftest
        password = json.loads(pw_file.read_text())["admin"]
        self.d.get(self.base + "/")
        self.until(ec.presence_of_element_located((By.NAME, "username")), "login page").send_keys("admin")
        self.d.find_element(By.NAME, "password").send_keys(password)
        self.shot("login")
        self.d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.until(lambda d: "/auth/login" not in d.current_url, "login accepted")

    # -- connections ----------------------------------------------------------------------------------
    def open_connections(self, reload: bool = False) -> None:
        """Admin → Connections through the menu, as a user does; ``reload`` loads the page anew instead
        (the UI caches the list: connections made outside this page show only after a load)."""
        if reload:
            self.d.get(self.base + "/connections")
        else:
            if not self.d.find_elements(By.CSS_SELECTOR, "button[aria-label='Admin']"):
                self.d.get(self.base + "/")
            if self.d.find_elements(By.CSS_SELECTOR, "[role=dialog]"):
                self.close_dialog()
            self.clickable(By.CSS_SELECTOR, "button[aria-label='Admin']", "Admin menu").click()
            self.clickable(By.XPATH, "//*[@role='menuitem'][normalize-space()='Connections']", "Connections").click()
        self.until(ec.url_contains("/connections"), "connections page")
        self.d.execute_script(_CAPTURE_JS)

    def open_add_form(self, conn_type_name: str) -> None:
        """Admin → Connections → Add Connection, then choose the connection type."""
        self.open_connections()
        self.clickable(By.XPATH, "//button[normalize-space()='Add Connection']", "Add Connection").click()
        self.choose_type(conn_type_name)

    def choose_type(self, conn_type_name: str) -> None:
        """Pick a connection type in the open form's type box (typing its name, then its option)."""
        combo = self.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "[role=dialog] input[role=combobox]")), "type box"
        )
        # The box's input shrinks to nothing once a type is chosen: focus it and type, as the keyboard does.
        self.d.execute_script("arguments[0].focus();", combo)
        ActionChains(self.d).send_keys(conn_type_name).perform()
        option = f"//*[@role='option'][normalize-space()='{conn_type_name}']"
        self.clickable(By.XPATH, option, f"type option {conn_type_name!r}").click()
        box = combo.find_element(By.XPATH, "./ancestor::*[@data-scope='field'][@data-part='root'][1]")
        self.until(lambda d: conn_type_name in box.text.splitlines(), f"type {conn_type_name!r} chosen")
        self.until(ec.presence_of_element_located((By.NAME, "host")), "standard fields")

    def open_section(self, title: str) -> None:
        """Expand one accordion section of the form (Standard Fields, Extra Fields, Extra Fields JSON)."""
        trigger = self.clickable(By.XPATH, f"//button[normalize-space()='{title}']", f"section {title!r}")
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        self.until(lambda d: trigger.get_attribute("aria-expanded") == "true", f"section {title!r} open")

    def field(self, name: str) -> FormField:
        """The field whose input is named ``name``, read from the form's DOM."""
        inp = self.d.find_element(By.NAME, name)
        root = inp.find_element(By.XPATH, "./ancestor::*[@data-scope='field'][@data-part='root'][1]")
        label = root.find_element(By.CSS_SELECTOR, "label").text.replace("*", "").strip()
        helps = root.find_elements(By.CSS_SELECTOR, "[data-part='helper-text']")
        return FormField(
            name=name,
            label=label,
            input_type=inp.get_attribute("type") or "",
            placeholder=inp.get_attribute("placeholder") or "",
            value=inp.get_attribute("value") or "",
            help_text=helps[0].text.strip() if helps else "",
        )

    def has_input(self, name: str) -> bool:
        try:
            self.d.find_element(By.CSS_SELECTOR, f"[role=dialog] [name='{name}']")
        except NoSuchElementException:
            return False
        return True

    def labels(self) -> list[str]:
        return [
            e.text.replace("*", "").strip()
            for e in self.d.find_elements(By.CSS_SELECTOR, "[role=dialog] label")
            if e.text.strip()
        ]

    def type_into(self, name: str, text: str) -> None:
        """Replace the value of input ``name`` (select all, type) and check the page took it."""
        inp = self.clickable(By.NAME, name, f"input {name}")
        inp.send_keys(Keys.CONTROL, "a")
        inp.send_keys(text)
        self.until(lambda d: d.find_element(By.NAME, name).get_attribute("value") == text, f"{name} = {text!r}")

    def save_form(self, conn_id: str) -> None:
        self.clickable(By.XPATH, "//*[@role='dialog']//button[normalize-space()='Save']", "Save").click()
        self.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")), "form closed")
        self.row(conn_id)

    def row(self, conn_id: str) -> WebElement:
        xpath = f"//tr[td[normalize-space()='{conn_id}']]"
        return self.until(ec.presence_of_element_located((By.XPATH, xpath)), f"row of {conn_id!r}")

    def open_edit_form(self, conn_id: str) -> WebElement:
        self.open_connections()
        self.row(conn_id).find_element(By.CSS_SELECTOR, "button[aria-label='Edit Connection']").click()
        self.until(ec.presence_of_element_located((By.NAME, "host")), "edit form")
        return self.d.find_element(By.CSS_SELECTOR, "[role=dialog]")

    def close_dialog(self) -> None:
        self.d.find_element(By.CSS_SELECTOR, "[role=dialog] button[data-part='close-trigger']").click()
        self.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")), "dialog closed")

    def click_test(self, conn_id: str) -> tuple[Toast, dict[str, Any]]:
        """Click the row's Test button; return the toast it shows and the request it sent (with answer)."""
        self.open_connections(reload=True)
        button = self.row(conn_id).find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
        self.until(lambda d: button.is_enabled(), "Test button enabled ([core] test_connection)")
        self.d.execute_script("window.__msgflashRequests = window.__msgflashRequests.filter(() => false);")
        button.click()
        toast = self.toast()  # the toast lasts 2 s: read it, then take the picture
        self.shot(f"test-button-{conn_id}")
        sent = [r for r in self.d.execute_script("return window.__msgflashRequests") if "/connections/test" in r["url"]]
        assert len(sent) == 1, f"expected one POST .../connections/test, the page sent {sent}"
        return toast, sent[0]

    def toast(self) -> Toast:
        sel = "[data-scope='toast'][data-part='root']"
        root = self.until(ec.visibility_of_element_located((By.CSS_SELECTOR, sel)), "a toast")
        parts = {}
        for part in ("title", "description"):
            found = root.find_elements(By.CSS_SELECTOR, f"[data-part='{part}']")
            parts[part] = found[0].text.strip() if found else ""
        return Toast(kind=root.get_attribute("data-type") or "", **parts)
