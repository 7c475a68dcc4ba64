"""panva's oidc-provider (npm, pinned in oidc_provider/package-lock.json) as a Node.js process on 127.0.0.1.

`npm ci --prefix tests/interop/oidc_provider` installs it (`.ci/run` does). Without Node.js or the package the
interop tests are skipped with the reason, unless `ORA_REQUIRE_OIDC_PROVIDER` is set (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
from html import unescape
from pathlib import Path

import aiohttp
import yarl

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
SCRIPT = PROVIDER_DIR / "provider.mjs"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def provider_required() -> bool:
    return bool(os.environ.get("ORA_REQUIRE_OIDC_PROVIDER"))


def skip_reason() -> str | None:
    """Why the interop tests cannot run here, or None (always None when they are required)."""
    if provider_required():
        return None
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs npm)"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed: run npm ci --prefix tests/interop/oidc_provider"
    return None


class NodeOIDCProvider:
    """The provider process: started on a free port, stopped (SIGTERM, then SIGKILL) on `stop()`."""

    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.issuer = ""

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Node.js is not installed (ORA_REQUIRE_OIDC_PROVIDER is set)")
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [node, str(SCRIPT)], cwd=PROVIDER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT)
        line = self._process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {self._log_path.read_text(errors='replace')[-2000:]}")
        self.issuer = json.loads(line)["issuer"]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    async def register_client(self, redirect_uri: str, algorithm: str) -> tuple[str, str]:
        """RFC 7591 dynamic registration of a web client; returns (client_id, client_secret)."""
        metadata = {
            "redirect_uris": [redirect_uri],
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "id_token_signed_response_alg": algorithm,
            "token_endpoint_auth_method": "client_secret_basic",
        }
        async with aiohttp.ClientSession() as session, session.post(f"{self.issuer}/reg", json=metadata) as response:
            body = await response.json()
            assert response.status == 201, body
        return body["client_id"], body["client_secret"]

    async def rotate_keys(self) -> list[str]:
        """Replace every signing key; returns the new kids (only these are published from now on)."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.issuer}/__test__/rotate-keys") as response,
        ):
            assert response.status == 200
            return list((await response.json())["kids"])


FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.DOTALL)
HIDDEN_PROMPT = re.compile(r'name="prompt" value="([^"]+)"')


async def sign_in_at_provider(session: aiohttp.ClientSession, authorize_url: str, login: str) -> str:
    """Through oidc-provider's development sign-in: redirects, the login form, the consent form.

    Returns the redirect back to the client (its callback URL with `code`, `state`, `iss`).
    """
    url = yarl.URL(authorize_url)
    provider_origin = url.origin()
    for _ in range(12):
        async with session.get(url, allow_redirects=False) as response:
            location = response.headers.get("Location")
            page = await response.text()
            status = response.status
        if location is not None:
            url = url.join(yarl.URL(location))
            if url.origin() != provider_origin:
                return str(url)
            continue
        assert status == 200, page
        match = FORM.search(page)
        prompt = HIDDEN_PROMPT.search(match.group(2)) if match else None
        assert match and prompt, page
        form = {"prompt": prompt.group(1)}
        if prompt.group(1) == "login":
            form |= {"login": login, "password": "any"}
        async with session.post(url.join(yarl.URL(unescape(match.group(1)))), data=form, allow_redirects=False) as sent:
            assert sent.status in (302, 303), await sent.text()
            url = url.join(yarl.URL(sent.headers["Location"]))
        if url.origin() != provider_origin:
            return str(url)
    raise AssertionError("the provider's sign-in did not end in a redirect back to the client")
