"""`azureml.contrib.services.aml_request` for Strata's scoring worker: `rawhttp` and `AMLRequest`.

azmlinfsrv makes this module name import (whether or not an `azureml` package is installed) by
putting its own module in `sys.modules`; the worker does the same with this one, written by Strata.
A `run()` decorated with `@rawhttp` receives an `AMLRequest` instead of the body: an object with the
parts of a Flask (Werkzeug) request that scoring scripts use. It needs only the standard library;
multipart bodies are parsed with the `email` package, and only when `files` or `form` is read.
"""

import io
import json
import shutil
from urllib.parse import parse_qsl, unquote

# azmlinfsrv's flag: set when a script applies @rawhttp (the module is shared by every script).
_rawHttpRequested = False


def rawhttp(func):
    """Marks run() as taking the whole request (an `AMLRequest`) instead of the body."""
    global _rawHttpRequested  # noqa: PLW0603 - azmlinfsrv's contract is this module-level flag
    _rawHttpRequested = True
    return func


class MultiDict:
    """Werkzeug's MultiDict, the parts scripts use: a key may have several values, `[key]` and
    `get()` give the first, `getlist()` all of them; iterating gives the keys."""

    def __init__(self, pairs=()):
        self._lists = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)

    def add(self, key, value):
        self._lists.setdefault(key, []).append(value)

    def __getitem__(self, key):
        values = self._lists.get(key)
        if not values:
            raise KeyError(key)
        return values[0]

    def get(self, key, default=None, type=None):  # noqa: A002 - Werkzeug's parameter name
        try:
            value = self[key]
        except KeyError:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default

    def getlist(self, key, type=None):  # noqa: A002 - Werkzeug's parameter name
        values = list(self._lists.get(key, ()))
        if type is None:
            return values
        converted = []
        for value in values:
            try:
                converted.append(type(value))
            except (ValueError, TypeError):
                pass
        return converted

    def __contains__(self, key):
        return key in self._lists

    def __iter__(self):
        return iter(self._lists)

    def __len__(self):
        return len(self._lists)

    def keys(self):
        return self._lists.keys()

    def values(self):
        return [values[0] for values in self._lists.values()]

    def items(self, multi=False):
        if multi:
            return [(key, value) for key, values in self._lists.items() for value in values]
        return [(key, values[0]) for key, values in self._lists.items()]

    def lists(self):
        return [(key, list(values)) for key, values in self._lists.items()]

    def to_dict(self, flat=True):
        if flat:
            return dict(self.items())
        return dict(self.lists())

    def __repr__(self):
        return f"{type(self).__name__}({self.items(multi=True)!r})"


class Headers:
    """HTTP headers in order, looked up without regard to case (Werkzeug's `Headers`);
    iterating gives `(name, value)` pairs, so `dict(headers)` works as with Flask."""

    def __init__(self, pairs=()):
        self._pairs = [(str(name), str(value)) for name, value in pairs]

    def get(self, key, default=None, type=None):  # noqa: A002 - Werkzeug's parameter name
        lowered = key.lower()
        for name, value in self._pairs:
            if name.lower() == lowered:
                if type is None:
                    return value
                try:
                    return type(value)
                except (ValueError, TypeError):
                    return default
        return default

    def getlist(self, key):
        lowered = key.lower()
        return [value for name, value in self._pairs if name.lower() == lowered]

    get_all = getlist

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key):
        return self.get(key) is not None

    def __iter__(self):
        return iter(list(self._pairs))

    def __len__(self):
        return len(self._pairs)

    def keys(self):
        return [name for name, _ in self._pairs]

    def values(self):
        return [value for _, value in self._pairs]

    def items(self):
        return list(self._pairs)

    def add(self, key, value):
        self._pairs.append((str(key), _header_text(value)))

    add_header = add

    def remove(self, key):
        lowered = key.lower()
        self._pairs = [(name, value) for name, value in self._pairs if name.lower() != lowered]

    __delitem__ = remove

    def set(self, key, value):
        self.remove(key)
        self.add(key, value)

    __setitem__ = set

    def __repr__(self):
        return f"{type(self).__name__}({self._pairs!r})"


def _header_text(value):
    # Werkzeug writes booleans as `True`/`False`, as azmlinfsrv's x-ms-run-function-failed shows.
    return str(value)


class FileStorage:
    """An uploaded file (Werkzeug's `FileStorage`): `filename`, `name`, `content_type`,
    `mimetype`, `headers`, and its bytes in `stream`; `read()` and `save()`."""

    def __init__(self, data, filename, name, content_type, headers):
        self.stream = io.BytesIO(data)
        self.filename = filename
        self.name = name
        self.content_type = content_type
        self.headers = headers
        self.content_length = len(data)

    @property
    def mimetype(self):
        return (self.content_type or "").split(";")[0].strip().lower()

    def read(self, *args):
        return self.stream.read(*args)

    def save(self, dst, buffer_size=16384):
        if isinstance(dst, (str, bytes)) or hasattr(dst, "__fspath__"):
            with open(dst, "wb") as target:
                shutil.copyfileobj(self.stream, target, buffer_size)
        else:
            shutil.copyfileobj(self.stream, dst, buffer_size)

    def __iter__(self):
        return iter(self.stream)

    def __bool__(self):
        return bool(self.filename)

    def __repr__(self):
        return f"<FileStorage: {self.filename!r} ({self.content_type!r})>"


class AMLRequest:
    """The request a `@rawhttp` run() receives: what scripts use of a Flask request."""

    def __init__(self, method, target, header_pairs, body, remote_addr=None, scheme="http"):
        self.method = method
        # Names as Werkzeug gives them (`Content-Type`, `X-Custom-Header`).
        self.headers = Headers((name.title(), value) for name, value in header_pairs)
        self.scheme = scheme
        self.remote_addr = remote_addr
        raw_path, _, query = target.partition("?")
        self.raw_path = raw_path
        self.path = unquote(raw_path)
        self.query_string = query.encode("latin-1", "replace")
        self._body = body
        self._args = None
        self._form = None
        self._files = None
        self._json = _UNSET

    # Where the request went.
    @property
    def host(self):
        return self.headers.get("Host", "localhost")

    @property
    def host_url(self):
        return f"{self.scheme}://{self.host}/"

    url_root = host_url
    root_url = host_url

    @property
    def base_url(self):
        return f"{self.scheme}://{self.host}{self.raw_path}"

    @property
    def url(self):
        query = self.query_string.decode("latin-1")
        return self.base_url + (f"?{query}" if query else "")

    @property
    def full_path(self):
        return f"{self.path}?{self.query_string.decode('latin-1')}"

    @property
    def args(self):
        if self._args is None:
            query = self.query_string.decode("utf-8", "replace")
            self._args = MultiDict(parse_qsl(query, keep_blank_values=True, errors="replace"))
        return self._args

    # What it carries.
    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    @property
    def mimetype(self):
        return (self.content_type or "").split(";")[0].strip().lower()

    @property
    def mimetype_params(self):
        params = {}
        for part in (self.content_type or "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key:
                params[key.lower()] = value.strip('"')
        return params

    @property
    def content_length(self):
        return len(self._body)

    @property
    def is_json(self):
        mimetype = self.mimetype
        return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))

    def get_data(self, cache=True, as_text=False, parse_form_data=False):  # noqa: ARG002 - Werkzeug's signature
        """The body as sent (also for form bodies, which Werkzeug may have consumed)."""
        if as_text:
            return self._body.decode(self.mimetype_params.get("charset", "utf-8"), "replace")
        return self._body

    @property
    def data(self):
        return self._body

    @property
    def stream(self):
        return io.BytesIO(self._body)

    input_stream = stream

    def get_json(self, force=False, silent=False, cache=True):  # noqa: ARG002 - Werkzeug's signature
        if self._json is not _UNSET:
            return self._json
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaType("Did not attempt to load JSON data because the request Content-Type was not 'application/json'.")
        try:
            self._json = json.loads(self._body)
        except ValueError as error:
            if silent:
                return None
            raise BadRequest(f"Failed to decode JSON object: {error}") from None
        return self._json

    @property
    def json(self):
        return self.get_json()

    @property
    def form(self):
        self._parse_form()
        return self._form

    @property
    def files(self):
        self._parse_form()
        return self._files

    @property
    def values(self):
        pairs = self.args.items(multi=True) + self.form.items(multi=True)
        return MultiDict(pairs)

    @property
    def cookies(self):
        from http.cookies import SimpleCookie  # noqa: PLC0415 - rarely needed

        jar = SimpleCookie()
        for value in self.headers.getlist("Cookie"):
            jar.load(value)
        return MultiDict((key, morsel.value) for key, morsel in jar.items())

    def _parse_form(self):
        if self._form is not None:
            return
        self._form = MultiDict()
        self._files = MultiDict()
        if self.method not in ("POST", "PUT", "PATCH"):
            return
        if self.mimetype == "application/x-www-form-urlencoded":
            text = self._body.decode("utf-8", "replace")
            for key, value in parse_qsl(text, keep_blank_values=True):
                self._form.add(key, value)
        elif self.mimetype == "multipart/form-data":
            _parse_multipart(self.content_type, self._body, self._form, self._files)

    def __repr__(self):
        return f"<AMLRequest {self.url!r} [{self.method}]>"


_UNSET = object()


class BadRequest(Exception):  # noqa: N818 - Werkzeug's name
    code = 400


class UnsupportedMediaType(BadRequest):
    code = 415


def _parse_multipart(content_type, body, form, files):
    """A `multipart/form-data` body, parsed with the standard library's MIME parser."""
    from email import policy  # noqa: PLC0415 - only for multipart bodies
    from email.parser import BytesParser  # noqa: PLC0415

    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is None:
            charset = part.get_content_charset() or "utf-8"
            form.add(name, data.decode(charset, "replace"))
        else:
            headers = Headers(part.items())
            files.add(name, FileStorage(data, filename, name, part.get("Content-Type"), headers))
