"""Hand-made S3 requests: SigV4 signing, aws-chunked bodies and raw sockets.

The SDKs never send some of what a server must handle (a body shorter than
its Content-Length, an unsigned payload over plain HTTP, aws-chunked bodies
with trailers over plain HTTP, a 100 KB header), so these tests build such
requests themselves. The signing follows the SigV4 documentation; the
positive tests (a hand-signed request that the server accepts) keep it
honest.
"""

import datetime
import hashlib
import hmac
import http.client
import socket
import urllib.parse
import xml.etree.ElementTree as ET

from conftest import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def amz_now(offset_seconds=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y%m%dT%H%M%SZ")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret_key, date, region=REGION, service="s3"):
    k = _hmac(("AWS4" + secret_key).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def canonical_query(query):
    pairs = []
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        pairs.append((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_path(path):
    """The canonical URI of a path as sent: each byte URI-encoded except
    unreserved characters and '/' (S3 does not normalise dot segments)."""
    return urllib.parse.quote(urllib.parse.unquote_to_bytes(path), safe="/-_.~")


class Signed:
    """A signed request: its headers, and what aws-chunked needs to sign
    the chunks that follow (the seed signature, scope and key)."""

    def __init__(self, headers, signature, amz_date, scope, key):
        self.headers = headers
        self.signature = signature
        self.amz_date = amz_date
        self.scope = scope
        self.key = key


def sign(
    method,
    path,
    host,
    headers=None,
    payload_hash=UNSIGNED,
    query="",
    access_key=ROOT_ACCESS_KEY,
    secret_key=ROOT_SECRET_KEY,
    amz_date=None,
    region=REGION,
):
    """SigV4-signs a request whose path is already URI-encoded as sent.
    Every given header is signed. Returns a `Signed`."""
    amz_date = amz_date or amz_now()
    date = amz_date[:8]
    headers = {k.lower(): str(v) for k, v in (headers or {}).items()}
    headers["host"] = host
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = payload_hash
    names = sorted(headers)
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    signed_headers = ";".join(names)
    canonical = "\n".join(
        [method, canonical_path(path), canonical_query(query), canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(secret_key, date, region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Signed(headers, signature, amz_date, scope, key)


def chunk_signature(signed, previous, data):
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            signed.amz_date,
            signed.scope,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(signed.key, to_sign.encode(), hashlib.sha256).hexdigest()


def trailer_signature(signed, previous, trailer_text):
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            signed.amz_date,
            signed.scope,
            previous,
            hashlib.sha256(trailer_text.encode()).hexdigest(),
        ]
    )
    return hmac.new(signed.key, to_sign.encode(), hashlib.sha256).hexdigest()


def aws_chunked_signed(signed, data, chunk_size=64 * 1024, trailers=None, corrupt_chunk=None):
    """An aws-chunked body with a signature per chunk (and, with `trailers`,
    a signed trailer). `corrupt_chunk` = i flips a byte of chunk i after
    signing it."""
    out = bytearray()
    previous = signed.signature
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for i, chunk in enumerate(chunks):
        sig = chunk_signature(signed, previous, chunk)
        previous = sig
        if corrupt_chunk == i and chunk:
            chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode()
        if chunk:
            out += chunk + b"\r\n"
    if trailers is not None:
        text = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        out += text.replace("\n", "\r\n").encode()
        out += f"x-amz-trailer-signature:{trailer_signature(signed, previous, text)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def aws_chunked_unsigned(data, chunk_size=64 * 1024, trailers=None):
    """An aws-chunked body without chunk signatures
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    out = bytearray()
    for i in range(0, len(data), chunk_size):
        chunk = data[i : i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    for k, v in (trailers or {}).items():
        out += f"{k}:{v}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def code(self):
        """The S3 error code of an XML error body, or None."""
        return error_code(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def error_code(body):
    if not body:
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    code = root.find("Code")
    return code.text if code is not None else None


def request(port, method, path, headers=None, body=b"", host=None, timeout=60):
    """Sends one request with http.client exactly as given (no added
    signing) and reads the whole answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        if "host" not in sent:
            conn.putheader("Host", host or f"127.0.0.1:{port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None and "content-length" not in sent and "transfer-encoding" not in sent:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def signed_request(
    port,
    method,
    path,
    body=b"",
    headers=None,
    payload_hash=None,
    query="",
    host=None,
    access_key=ROOT_ACCESS_KEY,
    secret_key=ROOT_SECRET_KEY,
    amz_date=None,
):
    """A SigV4 header-signed request. The payload hash defaults to the
    SHA-256 of `body`; pass UNSIGNED for UNSIGNED-PAYLOAD."""
    host = host or f"127.0.0.1:{port}"
    if payload_hash is None:
        payload_hash = hashlib.sha256(body or b"").hexdigest()
    s = sign(
        method,
        path,
        host,
        headers,
        payload_hash,
        query=query,
        access_key=access_key,
        secret_key=secret_key,
        amz_date=amz_date,
    )
    full = path + ("?" + query if query else "")
    return request(port, method, full, s.headers, body, host=host)


def raw_exchange(port, head, body_parts=(), read_timeout=30, shut_write=False):
    """Writes `head` and the body parts to a fresh socket and returns what
    the server answers before it closes (b"" if it closed silently). With
    `shut_write` the sending side is closed after the last part, as a
    client that gives up does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        try:
            sock.sendall(head)
            for part in body_parts:
                sock.sendall(part)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            # The server answered early and closed (e.g. a refused header or
            # length): read what it said.
            pass
        answer = bytearray()
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            answer += data
            if not shut_write and answer_complete(answer):
                break
        return bytes(answer)
    finally:
        sock.close()


def read_answer(sock):
    """Reads one whole answer from an open socket (what arrived if the
    server closes first)."""
    answer = b""
    while not answer_complete(answer):
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    return answer


def answer_complete(data):
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def parse_status(answer):
    """(status, S3 error code) of a raw HTTP answer."""
    if not answer:
        return None, None
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, error_code(body)


def request_head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
