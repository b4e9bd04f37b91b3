"""ssh-mcp asking for a password through URL elicitation, answered by the official MCP Python SDK
client and a real browser, as a user of such a client would.

    secret_client.py (--stdio BINARY | --http URL) --mode auto|legacy --address HOST:PORT --user USER --password PW

Connects to a password-only sshd without a password, trusting its host key when asked. The server
asks for it with a link (an
`elicitation/create` request on 2025-11-25, an input-required result on 2026-07-28, which the SDK
answers by calling the same callback and retrying); the callback opens the link in headless
Chromium (driven through chromedriver by the W3C WebDriver protocol), types the password and
presses the button, then accepts. Checks that the session works and that the password is in no
result. Prints a line per step and "all checks passed"; the first broken expectation ends the run
with a non-zero exit status. The server runs at RUST_LOG=trace; its log goes to stderr, which the
calling test searches for the password.

Run by tests/it/secrets.rs with the virtual environment that scripts/interop-setup makes.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import anyio
import mcp.types as types
from mcp import Client, StdioServerParameters

RUN_LIMIT = 100
PROTOCOL = {"auto": "2026-07-28", "legacy": "2025-11-25"}
# Debian's; SSH_MCP_CHROMEDRIVER and SSH_MCP_BROWSER name others.
CHROMEDRIVER = os.environ.get("SSH_MCP_CHROMEDRIVER") or "/usr/bin/chromedriver"
CHROMIUM = os.environ.get("SSH_MCP_BROWSER") or "/usr/lib/chromium/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def step(text):
    print(f"ok: {text}", flush=True)


class Browser:
    """Headless Chromium through its own chromedriver."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.driver = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{self.base}/status", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        self.profile = tempfile.mkdtemp()
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--user-data-dir={self.profile}"],
        }}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=60) as r:
            value = json.load(r)["value"]
        if isinstance(value, dict) and "error" in value:
            raise AssertionError(f"webdriver {method} {path}: {value}")
        return value

    def at(self, rest):
        return f"/session/{self.session}{rest}"

    def find(self, css):
        return self.call("POST", self.at("/element"), {"using": "css selector", "value": css})[ELEMENT]

    def fill_secret_page(self, url, secret):
        self.call("POST", self.at("/url"), {"url": url})
        field = self.find("input[type=password]")
        self.call("POST", self.at(f"/element/{field}/value"), {"text": secret})
        self.call("POST", self.at(f"/element/{self.find('button[type=submit]')}/click"), {})
        # The click starts the navigation; the answer replaces the form when it arrives.
        for _ in range(100):
            page = self.call("GET", self.at("/source"))
            if "<form" not in page:
                break
            time.sleep(0.1)
        return page

    def close(self):
        os.killpg(self.driver.pid, 9)
        self.driver.wait()


async def run(args, browser):
    if args.stdio:
        target = StdioServerParameters(command=args.stdio, args=[], env={"RUST_LOG": "trace"})
    else:
        target = args.http
    asked = []

    async def on_elicit(context, params):
        if getattr(params, "mode", None) == "form":
            # The unknown host's key, asked first where the client takes form questions too.
            check("host key" in params.message, f"unexpected question: {params}")
            return types.ElicitResult(action="accept", content={"trust": True})
        check(getattr(params, "mode", None) == "url", f"not a URL elicitation: {params}")
        asked.append((params.url, params.message))
        page = await anyio.to_thread.run_sync(browser.fill_secret_page, params.url, args.password)
        check("Received" in page, f"the page did not take the password: {page}")
        return types.ElicitResult(action="accept")

    async with Client(
        target, mode=args.mode, elicitation_callback=on_elicit, read_timeout_seconds=60
    ) as client:
        want = PROTOCOL[args.mode]
        check(client.protocol_version == want, f"protocol {client.protocol_version}, not {want}")
        step(f"protocol {client.protocol_version}")

        r = await client.call_tool("ssh_connect", {"address": args.address, "username": args.user})
        check(not r.is_error, f"ssh_connect failed: {r.content}")
        data = r.structured_content
        check(data["auth_method"] == "password", f"auth_method: {data}")
        check(len(asked) == 1, f"asked {len(asked)} times: {asked}")
        url, message = asked[0]
        check("/secrets/" in url and args.user in message, f"{url} {message}")
        step(f"connected with the password typed on {url.split('/secrets/')[0]}/secrets/…")

        w = await client.call_tool(
            "ssh_execute", {"session_id": data["session_id"], "command": "whoami"}
        )
        check(not w.is_error and args.user in w.structured_content["stdout"], f"whoami: {w}")
        step("the session runs commands")
        for result in (r, w):
            check(args.password not in result.model_dump_json(), "the password is in a result")
        step("the password is in no result")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stdio", help="path of ssh-mcp-stdio")
    target.add_argument("--http", help="URL of a running ssh-mcp")
    parser.add_argument("--mode", choices=sorted(PROTOCOL), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    browser = Browser()

    async def bounded():
        with anyio.fail_after(RUN_LIMIT):
            await run(args, browser)

    try:
        anyio.run(bounded)
    finally:
        browser.close()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    sys.exit(main())
