"""A loopback HTTP server that hands requests to a Lambda handler as API Gateway would.

It builds REST API proxy-integration events (payload format 1.0) and turns the
handler's answer back into an HTTP response. It is a local stand-in, not a
gateway: no authorizers, throttling or request validation.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# API Gateway refuses payloads over 10 MB before they reach the function.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


def proxy_event(
    *,
    method: str,
    resource: str,
    stage: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    multi: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi.setdefault(name, []).append(value)
    return {
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": multi,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{resource}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip},
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


class _LambdaContext:
    function_name = "local"
    memory_limit_in_mb = 256

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class ProxyServer:
    """Routes `POST /{stage}{resource}` to a handler; anything else gets API Gateway's 403."""

    def __init__(
        self,
        *,
        stage: str,
        routes: dict[tuple[str, str], LambdaHandler],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.stage = stage
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _dispatch(self) -> None:
                prefix = f"/{proxy.stage}"
                path = self.path.split("?", 1)[0]
                resource = path[len(prefix) :] if path.startswith(prefix) else None
                target = routes.get((self.command, resource or ""))
                if target is None:
                    self._reply(403, {}, b'{"message":"Missing Authentication Token"}')
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_PAYLOAD_BYTES:
                    self._reply(413, {}, b'{"message":"Request Too Long"}')
                    return
                body = self.rfile.read(length) if length else b""
                event = proxy_event(
                    method=self.command,
                    resource=resource or "",
                    stage=proxy.stage,
                    headers={k: v for k, v in self.headers.items()},
                    body=body,
                    source_ip=self.client_address[0],
                )
                try:
                    result = target(event, _LambdaContext())
                except Exception:  # noqa: BLE001 (a crashed function is a 502, as in AWS)
                    self._reply(502, {}, b'{"message": "Internal server error"}')
                    return
                payload = result.get("body") or ""
                raw = (
                    base64.b64decode(payload)
                    if result.get("isBase64Encoded")
                    else payload.encode("utf-8")
                )
                self._reply(int(result.get("statusCode", 200)), result.get("headers") or {}, raw)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = do_DELETE = _dispatch  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url_for(self, resource: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/{self.stage}{resource}"

    def start(self) -> ProxyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
