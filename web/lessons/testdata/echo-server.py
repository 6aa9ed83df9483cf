# echo-server.py: the echo server of Real Python's socket tutorial
# ("Socket Programming in Python"), written from its behaviour: it accepts
# one connection, echoes until the client closes, and ends. The host and
# port may be given as arguments (the tutorial hard-codes 127.0.0.1:65432).
import socket
import sys

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"  # Standard loopback interface address (localhost)
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 65432  # Port to listen on (non-privileged ports are > 1023)

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, PORT))
    s.listen()
    print(f"listening on {HOST}:{PORT}", flush=True)
    conn, addr = s.accept()
    with conn:
        print(f"Connected by {addr}", flush=True)
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data)
