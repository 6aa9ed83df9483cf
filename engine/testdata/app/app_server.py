#!/usr/bin/env python3
"""A server of the tutorial's application protocol, written from its
description for sockplay's tests (standard library only): sockplay's app
server must answer every request byte for byte as this one does.

usage: app_server.py HOST PORT   (port 0: any free port)

It prints "listening on HOST:PORT" once it listens, then serves until it
is killed. One request per connection; the connection is closed once the
response is written. A request it cannot answer closes the connection
without a response (and a line on stderr).
"""

import json
import selectors
import socket
import struct
import sys

SEARCH = {
    "morpheus": "Follow the white rabbit. \U0001f430",
    "ring": "In the caves beneath the Misty Mountains. \U0001f48d",
    "\U0001f436": "\U0001f43e Playing ball! \U0001f3d0",
}
REQUIRED = ("byteorder", "content-length", "content-type", "content-encoding")


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
    """Return (header, content) when buf holds one whole request, else None."""
    if len(buf) < 2:
        return None
    (header_len,) = struct.unpack(">H", buf[:2])
    if len(buf) < 2 + header_len:
        return None
    header = json.loads(buf[2:2 + header_len].decode("utf-8"))
    for key in REQUIRED:
        if key not in header:
            raise ValueError(f"missing required header {key!r}")
    end = 2 + header_len + header["content-length"]
    if len(buf) < end:
        return None
    return header, buf[2 + header_len:end]


def answer(header, content):
    if header["content-type"] != "text/json":
        return message("binary/custom-server-binary-type", "binary",
                       b"First 10 bytes of request: " + content[:10])
    request = json.loads(content.decode(header["content-encoding"]))
    action = request.get("action")
    if action == "search":
        value = request.get("value")
        result = SEARCH.get(value) or f"No match for '{value}'."
    else:
        result = f"Error: invalid action '{action}'."
    return message("text/json", "utf-8", dumps({"result": result}))


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.received = b""
        self.pending = None


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen()
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, data=None)
    print("listening on %s:%d" % lsock.getsockname(), flush=True)

    def close(conn):
        sel.unregister(conn.sock)
        conn.sock.close()

    while True:
        for key, mask in sel.select():
            if key.data is None:
                sock, _ = lsock.accept()
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, data=Connection(sock))
                continue
            conn = key.data
            try:
                if mask & selectors.EVENT_READ and conn.pending is None:
                    data = conn.sock.recv(4096)
                    if not data:
                        raise ConnectionError("the client closed before a whole request")
                    conn.received += data
                    parsed = parse(conn.received)
                    if parsed is not None:
                        conn.pending = answer(*parsed)
                        sel.modify(conn.sock, selectors.EVENT_WRITE, data=conn)
                elif mask & selectors.EVENT_WRITE:
                    sent = conn.sock.send(conn.pending)
                    conn.pending = conn.pending[sent:]
                    if not conn.pending:
                        close(conn)
            except Exception as e:
                print(f"error: {e!r}", file=sys.stderr, flush=True)
                close(conn)


if __name__ == "__main__":
    main()
