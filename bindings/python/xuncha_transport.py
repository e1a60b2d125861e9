"""The library's HTTP transport in Python: the foreign `HttpTransport` trait over urllib (the
`viaduct` pattern, as the Kotlin `HttpUrlConnectionTransport` and the Swift `URLSessionTransport`
do on phones). Moves bytes only: a 4xx/5xx is an answer; only "no answer" raises
`TransportError`. Retries, Retry-After and token refresh stay in the library.

uniffi runs a foreign async method on the event loop set with `uniffi_set_event_loop`: the
library calls it from its own worker threads, where no loop is running. `run()` sets that loop
for one `asyncio` run; use it instead of `asyncio.run` around calls that sync.
"""

import asyncio
import http.client
import socket
import ssl
import urllib.error
import urllib.request

import xuncha_ffi as x


def run(coroutine):
    """`asyncio.run` with the loop also handed to uniffi for the transport's callbacks."""
    loop = asyncio.new_event_loop()
    try:
        x.uniffi_set_event_loop(loop)
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token elsewhere: the 3xx is returned as the answer."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class UrllibTransport(x.HttpTransport):
    def __init__(self, context: "ssl.SSLContext | None" = None):
        self._opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=context))

    async def send(self, request):
        # urllib blocks: off the event loop, which also drives the library's futures.
        return await asyncio.to_thread(self._exchange, request)

    def _exchange(self, request):
        body = request.body
        if isinstance(body, x.HttpBody.BYTES):
            data = bytes(body.bytes)
        elif isinstance(body, x.HttpBody.FILE_PART):
            data = _file_part(body.path, body.offset, body.length)
        else:
            data = None if request.method == x.HttpMethod.GET else b""
        outgoing = urllib.request.Request(
            request.url, data=data, method=request.method.name,
            headers={h.name: h.value for h in request.headers})
        timeout = max(request.timeout_ms, 1) / 1000
        try:
            with self._opener.open(outgoing, timeout=timeout) as answer:
                return _response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as answer:
            return _response(answer.code, answer.headers, answer.read())
        except urllib.error.URLError as e:
            raise _failure(e.reason if isinstance(e.reason, BaseException) else e) from e
        except (OSError, http.client.HTTPException) as e:
            raise _failure(e) from e


def _response(status, headers, body):
    return x.HttpResponse(
        status=status,
        headers=[x.HttpHeader(name=k, value=v) for k, v in headers.items()],
        body=body)


def _failure(error):
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, (ssl.SSLError, ssl.CertificateError)):
        return x.TransportError.Tls(reason=reason)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return x.TransportError.Timeout(reason=reason)
    return x.TransportError.Network(reason=reason)


def _file_part(path, offset, length):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            part = f.read(length)
    except OSError as e:
        raise x.TransportError.FileUnreadable(reason=f"{path}: {e}") from e
    if len(part) != length:
        raise x.TransportError.FileUnreadable(
            reason=f"{path}: {length} bytes from {offset} asked, {len(part)} there")
    return part
