"""`azureml.contrib.services.aml_response` for Strata's scoring worker: `AMLResponse`.

A run() (with or without `@rawhttp`) may return an `AMLResponse` to choose the status, the headers
and the bytes of its answer, which reach the client unchanged. The constructor is azmlinfsrv's:
`AMLResponse(message, status_code, response_headers={}, json_str=False, run_function_failed=False)`.
A `message` that is an iterator or a generator is streamed to the client, chunk by chunk.
"""

import json

from _aml_request import Headers

_DEFAULT_TYPE = "text/html; charset=utf-8"


class AMLResponse:
    """An HTTP answer: `status_code`, `headers`, and the body (`get_data()`, or streamed)."""

    def __init__(
        self,
        message,
        status_code,
        response_headers=None,
        json_str=False,
        run_function_failed=False,
        *,
        mimetype=None,
        content_type=None,
    ):
        response_headers = response_headers or {}
        self.status_code = int(status_code)
        self.headers = Headers()
        if message is None:
            self.response = b"{}"
            self.headers["Content-Type"] = "application/json"
        elif json_str:
            self.response = json.dumps(message).encode()
            self.headers["Content-Type"] = "application/json"
        else:
            self.response = message
            if content_type is None and mimetype is not None:
                content_type = mimetype + ("; charset=utf-8" if mimetype.startswith("text/") else "")
            if not any(name.lower() == "content-type" for name in response_headers):
                self.headers["Content-Type"] = content_type or _DEFAULT_TYPE
        self.headers["x-ms-run-function-failed"] = run_function_failed
        # As in azmlinfsrv, a value with commas becomes repeated headers.
        for name, value in response_headers.items():
            for part in str(value).split(","):
                self.headers.add(name, part.strip())

    @property
    def status(self):
        return str(self.status_code)

    @property
    def mimetype(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    @property
    def is_streamed(self):
        return not isinstance(self.response, (bytes, bytearray, str, list, tuple))

    def get_data(self, as_text=False):
        """The whole body (an iterator body is consumed)."""
        body = self.response
        if isinstance(body, str):
            data = body.encode()
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            data = b"".join(chunk.encode() if isinstance(chunk, str) else bytes(chunk) for chunk in body)
            self.response = data
        return data.decode() if as_text else data

    @property
    def data(self):
        return self.get_data()

    def __repr__(self):
        return f"<AMLResponse {self.status_code} {self.content_type!r}>"
