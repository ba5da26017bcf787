"""fakesnow's own HTTP server with one addition: the login checks the password.

fakesnow accepts any credentials, so on its own it cannot show how the real Snowflake connector
reports a rejected password. This wrapper answers a wrong password exactly as Snowflake does
(HTTP 200, ``success: false``, code 390100) and hands every other request, unchanged, to
fakesnow's Starlette app. Key-pair (JWT) logins pass through: fakesnow cannot verify them.

Usage: python fakesnow_auth_server.py PORT PASSWORD
"""

from __future__ import annotations

import gzip
import json
import sys

import uvicorn
from fakesnow.server import app as fakesnow_app

PASSWORD = sys.argv[2] if len(sys.argv) > 2 else "secret"
REJECTION = {
    "data": {"nextAction": None, "authnMethod": "USERNAME_PASSWORD"},
    "code": "390100",
    "message": "Incorrect username or password was specified.",
    "success": False,
}


async def app(scope, receive, send):
    if scope["type"] != "http" or scope["path"] != "/session/v1/login-request":
        return await fakesnow_app(scope, receive, send)
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = dict(scope["headers"])
    raw = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
    data = json.loads(raw)["data"]
    if data.get("AUTHENTICATOR") != "SNOWFLAKE_JWT" and data.get("PASSWORD") != PASSWORD:
        payload = json.dumps(REJECTION).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return None
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return await fakesnow_app(scope, replay, send)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
