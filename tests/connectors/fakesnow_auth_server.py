"""fakesnow's own HTTP server with one addition: the login checks the password.

fakesnow accepts any credentials, so on its own it cannot show how the real Snowflake connector
reports a rejected password. This wrapper answers a wrong password exactly as Snowflake does
(HTTP 200, ``success: false``, code 390100) and hands every other request to fakesnow's
Starlette app. Key-pair (JWT) logins pass through: fakesnow cannot verify them. It also turns
fakesnow's HTTP 500 for a query that fails while running into Snowflake's failed-query answer.

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


async def query_errors_as_snowflake(scope, receive, send):
    """fakesnow answers an error raised while running a query with HTTP 500, which the connector
    retries for minutes; Snowflake answers it as a failed query (code 100038 for a conversion
    error). Rewrite the 500 that way."""
    failed = False

    async def rewrite(message):
        nonlocal failed
        if message["type"] == "http.response.start" and message["status"] == 500:
            failed = True
            return None
        if failed and message["type"] == "http.response.body":
            if message.get("more_body"):
                return None
            lines = [ln for ln in message.get("body", b"").decode(errors="replace").splitlines()]
            last = next((ln for ln in reversed(lines) if "Error" in ln), "query failed")
            payload = json.dumps(
                {
                    "data": {"sqlState": "22018", "errorCode": "100038"},
                    "code": "100038",
                    "message": last.strip()[:500],
                    "success": False,
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            return await send({"type": "http.response.body", "body": payload})
        if not failed:
            return await send(message)
        return None

    return await fakesnow_app(scope, receive, rewrite)


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/queries/v1/query-request":
        return await query_errors_as_snowflake(scope, receive, send)
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
