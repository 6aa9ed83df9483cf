#!/usr/bin/env python3
"""A client of the tutorial's application protocol, written from its
description for sockplay's tests (standard library only).

Each message: a 2-byte big-endian length of the JSON header, the JSON
header (byteorder, content-type, content-encoding, content-length), then
content-length bytes of content. One request per connection; the server
closes the connection after its response.

usage: app_client.py HOST PORT search VALUE   text/json {"action": "search", "value": VALUE}
       app_client.py HOST PORT json CONTENT   text/json whose content is the JSON text CONTENT
       app_client.py HOST PORT ACTION VALUE   any other action: binary content ACTION + VALUE

It prints the whole response in hex ("raw ..."), then "result: R" for a
text/json response or "content: <repr>" for any other. It exits 1 when the
server closes without a whole response.
"""

import json
import selectors
import socket
import struct
import sys

REQUIRED = ("byteorder", "content-type", "content-encoding", "content-length")


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def message(content_type, content_encoding, content):
    header = dumps({
        "byteorder": sys.byteorder,
        "content-type": content_type,
        "content-encoding": content_encoding,
        "content-length": len(content),
    })
    return struct.pack(">H", len(header)) + header + content


def parse(buf):
    """Return (header, content) when buf holds one whole message, else None."""
    if len(buf) < 2:
        return None
    (header_len,) = struct.unpack(">H", buf[:2])
    if len(buf) < 2 + header_len:
        return None
    header = json.loads(buf[2:2 + header_len].decode("utf-8"))
    for key in REQUIRED:
        if key not in header:
            raise ValueError(f"the response header has no {key!r}")
    end = 2 + header_len + header["content-length"]
    if len(buf) < end:
        return None
    return header, buf[2 + header_len:end]


def request_for(action, value):
    if action == "search":
        return message("text/json", "utf-8", dumps({"action": "search", "value": value}))
    if action == "json":
        return message("text/json", "utf-8", value.encode("utf-8"))
    return message("binary/custom-client-binary-type", "binary", (action + value).encode("utf-8"))


def exchange(host, port, request):
    """Send request and read until the server closes; return what it sent."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    pending, received = request, b""
    try:
        while True:
            events = sel.select(timeout=10)
            if not events:
                raise TimeoutError("no answer from the server in 10 seconds")
            for _, mask in events:
                if mask & selectors.EVENT_WRITE and pending:
                    sent = sock.send(pending)
                    pending = pending[sent:]
                    if not pending:
                        sel.modify(sock, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    try:
                        data = sock.recv(4096)
                    except ConnectionResetError:
                        return received
                    if not data:
                        return received
                    received += data
    finally:
        sel.close()
        sock.close()


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, action, value = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    received = exchange(host, port, request_for(action, value))
    print("raw", received.hex())
    parsed = parse(received)
    if parsed is None:
        print("the server closed without a whole response")
        sys.exit(1)
    header, content = parsed
    if header["content-type"] == "text/json":
        print("result:", json.loads(content.decode(header["content-encoding"]))["result"])
    else:
        print("content:", repr(content))


if __name__ == "__main__":
    main()
