#!/usr/bin/env python3
"""A multi-connection client in the style of the socket tutorials'
multiconn-client.py, written from its behaviour (selectors, non-blocking
sockets): it opens N connections to HOST:PORT at once, each sends M
messages and reads back as many bytes as it sent, then closes. It prints
one line per connection and a total, and exits 1 if any echo differs.

    python3 multiconn_client.py HOST PORT NUM_CONNS NUM_MESSAGES
"""
import selectors
import socket
import sys
import types

sel = selectors.DefaultSelector()


def start_connections(host, port, num_conns, messages):
    for i in range(num_conns):
        connid = i + 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        msgs = [f"Message {k + 1} from client {connid}.".encode() for k in range(messages)]
        data = types.SimpleNamespace(
            connid=connid,
            msg_total=sum(len(m) for m in msgs),
            recv_total=0,
            messages=list(msgs),
            expected=b"".join(msgs),
            received=b"",
            outb=b"",
        )
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, data=data)


def service_connection(key, mask, results):
    sock, data = key.fileobj, key.data
    if mask & selectors.EVENT_READ:
        recv_data = sock.recv(1024)
        if recv_data:
            data.received += recv_data
            data.recv_total += len(recv_data)
        if not recv_data or data.recv_total == data.msg_total:
            results.append((data.connid, data.received == data.expected, data.recv_total))
            sel.unregister(sock)
            sock.close()
            return
    if mask & selectors.EVENT_WRITE:
        if not data.outb and data.messages:
            data.outb = data.messages.pop(0)
        if data.outb:
            sent = sock.send(data.outb)
            data.outb = data.outb[sent:]


def main():
    if len(sys.argv) != 5:
        print(f"usage: {sys.argv[0]} <host> <port> <num_connections> <num_messages>")
        sys.exit(2)
    host, port, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    start_connections(host, port, n, m)
    results = []
    while sel.get_map():
        for key, mask in sel.select(timeout=5):
            service_connection(key, mask, results)
    ok = all(matched for _, matched, _ in results)
    for connid, matched, total in sorted(results):
        print(f"connection {connid}: {total} bytes back, {'matched' if matched else 'DIFFERENT'}")
    print(f"{len(results)} connections, {'all echoes matched' if ok and len(results) == n else 'FAILED'}")
    sys.exit(0 if ok and len(results) == n else 1)


if __name__ == "__main__":
    main()
