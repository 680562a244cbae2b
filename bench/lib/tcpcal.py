#!/usr/bin/env python3
"""Raw TCP throughput over loopback through one port: checks a tc cap without iSCSI in the way.

    tcpcal.py PORT SECONDS [send|recv]
send: the client sends to 127.0.0.1:PORT (tcp dport PORT); recv: the server sends back (sport).
Prints the received MiB/s, measured at the receiver over SECONDS after a 0.5 s warm-up.
"""
import socket
import sys
import threading
import time

port, seconds, direction = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
stop = threading.Event()
chunk = b"\0" * (1 << 20)


def sender(sock):
    try:
        while not stop.is_set():
            sock.sendall(chunk)
    except OSError:  # the receiver closed: done
        pass


def receive(sock):
    warm = time.monotonic() + 0.5
    got, start = 0, None
    while True:
        n = len(sock.recv(1 << 20))
        if n == 0:
            break
        now = time.monotonic()
        if start is None:
            if now >= warm:
                start = now
            continue
        got += n
        if now - start >= seconds:
            break
    stop.set()
    return got / (1 << 20) / (time.monotonic() - start)


srv.settimeout(10)
cli = socket.create_connection(("127.0.0.1", port), timeout=10)
conn, _ = srv.accept()
for s in (cli, conn):
    s.settimeout(10)  # a class that passes nothing fails here instead of hanging
tx, rx = (cli, conn) if direction == "send" else (conn, cli)
t = threading.Thread(target=sender, args=(tx,), daemon=True)
t.start()
rate = receive(rx)
for s in (cli, conn, srv):
    s.close()
print(f"{rate:.1f}")
