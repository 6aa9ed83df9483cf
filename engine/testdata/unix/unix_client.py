#!/usr/bin/env python3
"""A Unix domain socket echo client, as the IPC tutorials write one.

Usage: unix_client.py PATH MESSAGE
Connects to the socket at PATH, sends MESSAGE, shuts down its sending side
and prints everything the server sends back until it closes.
"""
import socket
import sys

path, message = sys.argv[1], sys.argv[2]
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect(path)
    s.sendall(message.encode())
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        data = s.recv(1024)
        if not data:
            break
        reply += data
print(reply.decode(errors="replace"), end="")
