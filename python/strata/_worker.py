"""Strata scoring worker: imports an entry script, calls its init() once, then answers run() calls.

Started by `strata serve` (the `strata-serve` crate) as `python -u _worker.py`, with the working
directory and `AML_APP_ROOT` set to the app root, `AZUREML_ENTRY_SCRIPT` (the script's path, absolute
or relative to the app root), optionally `AZUREML_SOURCE_DIRECTORY` (relative to the app root, added to
`sys.path`) and `AZUREML_MODEL_DIR`. The script is loaded as azmlinfsrv does: with importlib, as module
`entry_module`, with the app root and the source directory appended to `sys.path`.

Protocol. The server writes requests to the worker's stdin and reads replies from its stdout. Before
the entry script is imported, both pipes move to duplicated file descriptors: fd 0 then reads
/dev/null and fd 1 points at stderr, so print() from the script lands in the service log, never in
the protocol. All integers are big-endian.

    request  = u32 length (of everything after it) | u8 kind | u32 headers length
               | headers (a JSON object, `request_headers` for run(); empty unless asked for)
               | payload
        kind B: payload = the POST body, raw bytes; run() gets it decoded as UTF-8
        kind Q: payload = the raw query string of a GET; run() gets
                json.dumps({key: json.loads(value) or the value itself}), repeated keys as lists
        kind H: the whole request, for a run() decorated with @rawhttp or @input_schema;
                headers = {"method", "target" (path?query), "headers": [[name, value], ...],
                "remote" (the client's address)}; payload = the body

    reply    = u32 length (of everything after it) | u8 kind | u64 run() wall time in ns | payload
        kind R: ready: init() returned; payload = {"init_ms": float, "headers": bool, "pid": int,
                "mode": "plain" | "schema" | "raw", "schema": null or {"input", "output",
                "versions"} of the inference-schema decorators}
        kind F: init failed (import, missing init/run, bad run signature, init() raised);
                payload = the traceback; the worker then exits with code 3
        kind O: run() returned; payload = the response body (json.dumps of the result, `{}` for None)
        kind P: run() returned a response (AMLResponse, a Flask response); payload = u32 head
                length | head = {"status": int, "headers": [[name, value], ...]} | the body
        kind C: run() returned a generator (or a response streaming one): payload = u32 head
                length | head; then one kind D reply per chunk (payload = its bytes) and kind Z
                at the end (its time is run()'s and the stream's), or kind E if the iteration raised
        kind E: run() raised; payload = the traceback
        kind S: internal error (run()'s result is not JSON-serialisable, or the query string is not
                UTF-8); payload = the traceback
        kind U: the body is not UTF-8; payload = the whole 400 response body
        kind V: the request does not fit run()'s inference-schema decorators; payload =
                {"status": 400 or 415, "message": str}

The worker answers one request at a time and exits when stdin reaches its end. This file is written
by Strata; it uses only the standard library, and its companions `_aml_request.py` and
`_aml_response.py`, which serve as `azureml.contrib.services.aml_request` / `aml_response`.
"""

import codecs
import faulthandler
import importlib.util
import inspect
import json
import os
import struct
import sys
import time
import traceback
from collections.abc import Iterator
from types import ModuleType
from urllib.parse import parse_qsl, quote

import _aml_request
import _aml_response

_REQUEST = struct.Struct(">IBI")
_REPLY = struct.Struct(">IBQ")
_HEAD = struct.Struct(">I")
_KIND_BODY = ord("B")
_KIND_QUERY = ord("Q")
_KIND_HTTP = ord("H")
_DEFAULT_TYPE = "text/html; charset=utf-8"


class _ScriptError(Exception):
    """The entry script cannot be served (azmlinfsrv's UserScriptError)."""


class _Rejected(Exception):
    """The request does not fit run()'s decorators: a 400 or 415 with a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _url_quote_errors(error):
    # Werkzeug's "werkzeug.url_quote" codec error handler, used to decode `request.args`.
    return quote(error.object[error.start : error.end], safe=""), error.end


codecs.register_error("strata.url_quote", _url_quote_errors)


def _parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _query_params(raw):
    """`/score?k=v&...` as azmlinfsrv reads it: {key: json.loads(value) or value}, lists for repeats."""
    grouped = {}
    for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strata.url_quote"):
        grouped.setdefault(key, []).append(value)
    parsed = {}
    for key, values in grouped.items():
        if len(values) == 1:
            parsed[key] = _parse_value(values[0])
        else:
            parsed[key] = [_parse_value(value) for value in values]
    return parsed


def _query_input(raw):
    """`/score?k=v&...` as azmlinfsrv passes it to an undecorated run(): a JSON object as text."""
    return json.dumps(_query_params(raw))


def _install_azureml_modules():
    # azmlinfsrv's redirect: these names import whether or not an `azureml` package is installed.
    sys.modules["azureml.contrib.services.aml_request"] = _aml_request
    sys.modules["azureml.contrib.services.aml_response"] = _aml_response


def _load_script(app_root):
    entry_script = os.environ.get("AZUREML_ENTRY_SCRIPT")
    if entry_script:
        location = os.path.join(app_root, entry_script.replace("/", os.sep))
        spec = importlib.util.spec_from_file_location("entry_module", location)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        import main as module  # noqa: PLC0415 - azmlinfsrv's fallback without an entry script

    if not hasattr(module, "init"):
        raise _ScriptError(f"User script at {module.__file__} does not have a init() function defined.")
    if not hasattr(module, "run"):
        raise _ScriptError(f"User script at {module.__file__} does not have a run() function defined.")

    # Scripts generated by the Azure ML SDK forward run() to `driver_module`; call the real one.
    driver = getattr(module, "driver_module", None)
    if isinstance(driver, ModuleType) and hasattr(driver, "run"):
        run = driver.run
    else:
        run = module.run
    return module.init, run


def _raw_requested():
    # @rawhttp sets a flag on its module, ours or an installed azmlinfsrv's.
    names = ("azureml.contrib.services.aml_request", "azureml_inference_server_http.api.aml_request")
    return any(getattr(sys.modules.get(name), "_rawHttpRequested", False) for name in names)


def _schema_of(run):
    """The inference-schema decorators' schemas, or None when run() is not decorated."""
    if "inference_schema" not in sys.modules:
        return None
    from inference_schema import schema_util  # noqa: PLC0415 - only for scripts that use it

    if not schema_util.is_schema_decorated(run):
        return None
    return {
        "input": schema_util.get_input_schema(run),
        "output": schema_util.get_output_schema(run),
        "versions": schema_util.get_supported_versions(run),
        "code": schema_util._get_decorators(run)[-1].__code__,  # noqa: SLF001 - the undecorated run()
    }


class _Script:
    """run() and how to call it."""

    def __init__(self, run):
        parameters = list(inspect.signature(run).parameters.values())
        allowed = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if any(parameter.kind not in allowed for parameter in parameters):
            raise _ScriptError("run() cannot accept positional-only arguments, *args, or **kwargs.")
        self.wants_headers = any(parameter.name == "request_headers" for parameter in parameters)
        self.parameters = [parameter for parameter in parameters if parameter.name != "request_headers"]
        if not self.parameters:
            if self.wants_headers:
                raise _ScriptError('run() needs to accept an argument other than "request_headers".')
            raise _ScriptError("run() needs to accept an argument for input data.")
        self.parameter = self.parameters[0].name
        self.run = run
        raw = _raw_requested()
        self.schema = _schema_of(run)
        if raw and self.schema is not None:
            raise _ScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
        self.mode = "raw" if raw else "schema" if self.schema is not None else "plain"

    def ready(self, init_ms):
        schema = None
        if self.schema is not None:
            schema = {key: value for key, value in self.schema.items() if key != "code"}
        ready = {
            "init_ms": init_ms,
            "headers": self.wants_headers,
            "pid": os.getpid(),
            "mode": self.mode,
            "schema": schema,
        }
        return json.dumps(ready, default=str).encode()

    def arguments(self, meta, body):
        """run()'s arguments for a whole request (kind H)."""
        method = meta["method"]
        pairs = meta["headers"]
        if self.mode == "raw":
            request = _aml_request.AMLRequest(method, meta["target"], pairs, body, meta.get("remote"))
            arguments = {self.parameter: request}
        else:
            arguments = self._schema_arguments(method, meta["target"], pairs, body)
        if self.wants_headers:
            arguments["request_headers"] = _headers_dict(pairs)
        return arguments

    def _schema_arguments(self, method, target, pairs, body):
        # azmlinfsrv's ObjectInput: the JSON object's members by parameter name.
        if method == "GET":
            _, _, query = target.partition("?")
            values = _query_params(query.encode("latin-1", "replace"))
        else:
            content_type = _aml_request.Headers(pairs).get("Content-Type", "")
            mimetype = content_type.split(";")[0].strip().lower()
            if not (mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
                raise _Rejected(415, "Expects Content-Type to be application/json")
            try:
                values = json.loads(body)
            except ValueError as error:
                if body:
                    raise _Rejected(400, f"POST body could not be decoded as JSON: {error}") from None
                raise _Rejected(400, "POST body is empty. Expecting a JSON dictionary.") from None
            if not isinstance(values, dict):
                raise _Rejected(400, "POST body should be a JSON dictionary.")
        arguments = {}
        for parameter in self.parameters:
            value = values.get(parameter.name, parameter.default)
            if value is inspect.Parameter.empty:
                raise _Rejected(400, f"A value is not provided for the {parameter.name!r} parameter.")
            arguments[parameter.name] = value
        return arguments

    def rejection(self, error):
        """The message of an error that the decorators raised before run()'s own code started."""
        if self.schema is None:
            return None
        code = self.schema["code"]
        in_decorators = False
        for frame, _ in traceback.walk_tb(error.__traceback__):
            if frame.f_code is code:
                return None
            if frame.f_globals.get("__name__", "").startswith("inference_schema"):
                in_decorators = True
        return str(error) if in_decorators else None


def _headers_dict(pairs):
    # dict(request.headers) as Flask gives it: title-cased names, repeats joined with ",".
    headers = {}
    for name, value in pairs:
        key = name.title()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def _response_parts(result):
    """(status, header pairs, body as bytes or an iterator) of a response run() returned, or None."""
    if isinstance(result, _aml_response.AMLResponse):
        status, pairs, body = result.status_code, result.headers.items(), result.response
    elif hasattr(result, "status_code") and hasattr(result, "headers") and hasattr(result, "get_data"):
        # A Flask or Werkzeug response.
        pairs = [(str(name), str(value)) for name, value in result.headers.items()]
        body = result.response if getattr(result, "is_streamed", False) else result.get_data()
        status = result.status_code
    elif isinstance(result, Iterator):
        # A generator: streamed as AMLResponse(generator, 200) would be.
        status, pairs, body = 200, [("Content-Type", _DEFAULT_TYPE), ("x-ms-run-function-failed", "False")], result
    else:
        return None
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, (list, tuple)):
        body = b"".join(_chunk_bytes(chunk) for chunk in body)
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    head = json.dumps({"status": int(status), "headers": [list(pair) for pair in pairs]}).encode()
    return _HEAD.pack(len(head)) + head, body


def _chunk_bytes(chunk):
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode()
    return json.dumps(chunk).encode()


class _Channel:
    def __init__(self, read_fd, write_fd):
        self._reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._write_fd = write_fd

    def read(self, size):
        return self._reader.read(size) if size else b""

    def send(self, kind, nanos, payload, extra=b""):
        header = _REPLY.pack(len(payload) + len(extra) + 9, kind, nanos)
        total = len(header) + len(payload) + len(extra)
        parts = [header, payload, extra] if extra else [header, payload]
        written = os.writev(self._write_fd, parts)
        if written < total:
            rest = memoryview(b"".join(parts))[written:]
            while rest:
                rest = rest[os.write(self._write_fd, rest) :]


def _send_result(channel, script, result, start, clock):
    """Sends what run() returned: JSON, a response, or a stream."""
    try:
        body = b"{}" if result is None else json.dumps(result).encode()
    except TypeError:
        parts = _response_parts(result)
        if parts is None:
            channel.send(ord("S"), 0, traceback.format_exc().encode("utf-8", "replace"))
            return
        head, body = parts
        if isinstance(body, bytes):
            channel.send(ord("P"), clock() - start, head, body)
            return
        _stream(channel, head, body, start, clock)
        return
    except Exception:  # noqa: BLE001 - azmlinfsrv answers 500 with x-ms-run-function-failed: False
        channel.send(ord("S"), 0, traceback.format_exc().encode("utf-8", "replace"))
        return
    channel.send(ord("O"), clock() - start, body)


def _stream(channel, head, chunks, start, clock):
    channel.send(ord("C"), 0, head)
    try:
        for chunk in chunks:
            data = _chunk_bytes(chunk)
            if data:
                channel.send(ord("D"), 0, data)
    except Exception:  # noqa: BLE001 - the stream is cut off; the traceback goes to the log
        channel.send(ord("E"), 0, traceback.format_exc().encode("utf-8", "replace"))
        return
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    channel.send(ord("Z"), clock() - start, b"")


def _serve(channel, script):
    unpack = _REQUEST.unpack
    read = channel.read
    send = channel.send
    clock = time.perf_counter_ns
    run = script.run
    parameter = script.parameter
    wants_headers = script.wants_headers
    while True:
        head = read(9)
        if len(head) < 9:
            return
        length, kind, headers_length = unpack(head)
        headers = json.loads(read(headers_length)) if headers_length else {}
        payload = read(length - 5 - headers_length)
        if kind == _KIND_BODY:
            try:
                arguments = {parameter: payload.decode("utf-8")}
            except UnicodeDecodeError as error:
                body = json.dumps({"message": f"Input cannot be decoded as UTF-8: {error}"})
                send(ord("U"), 0, body.encode())
                continue
            if wants_headers:
                arguments["request_headers"] = headers
        elif kind == _KIND_QUERY:
            try:
                arguments = {parameter: _query_input(payload)}
            except Exception:  # noqa: BLE001 - a query string that is not UTF-8: azmlinfsrv answers 500
                send(ord("S"), 0, traceback.format_exc().encode("utf-8", "replace"))
                continue
            if wants_headers:
                arguments["request_headers"] = headers
        elif kind == _KIND_HTTP:
            try:
                arguments = script.arguments(headers, payload)
            except _Rejected as rejected:
                send(ord("V"), 0, json.dumps({"status": rejected.status, "message": rejected.message}).encode())
                continue
            except Exception:  # noqa: BLE001 - e.g. a query string that is not UTF-8
                send(ord("S"), 0, traceback.format_exc().encode("utf-8", "replace"))
                continue
        else:
            raise RuntimeError(f"Unknown request kind {kind}")
        start = clock()
        try:
            result = run(**arguments)
        except Exception as error:  # noqa: BLE001 - reported to the server, which answers 500
            message = script.rejection(error)
            if message is not None:
                send(ord("V"), 0, json.dumps({"status": 400, "message": message}).encode())
            else:
                send(ord("E"), 0, traceback.format_exc().encode("utf-8", "replace"))
            continue
        _send_result(channel, script, result, start, clock)


def main():
    # The protocol moves off fds 0 and 1 before any user code runs.
    read_fd = os.dup(0)
    write_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    faulthandler.enable()
    channel = _Channel(read_fd, write_fd)

    app_root = os.environ.get("AML_APP_ROOT") or os.getcwd()
    sys.path.append(app_root)
    source_directory = os.environ.get("AZUREML_SOURCE_DIRECTORY")
    if source_directory:
        sys.path.append(os.path.join(app_root, source_directory))
    _install_azureml_modules()

    try:
        init, run = _load_script(app_root)
        script = _Script(run)
        start = time.perf_counter()
        init()
        init_ms = (time.perf_counter() - start) * 1e3
    except BaseException:  # noqa: BLE001 - includes SystemExit raised by the script
        channel.send(ord("F"), 0, traceback.format_exc().encode("utf-8", "replace"))
        sys.stderr.flush()
        os._exit(3)
    channel.send(ord("R"), 0, script.ready(init_ms))
    _serve(channel, script)


if __name__ == "__main__":
    main()
