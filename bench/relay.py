"""A bare asyncio TCP relay: the bench's reference for what any asyncio proxy's copies cost.

    python bench/relay.py --port N --backend M

Each client connection gets one connection to the backend, and bytes go both
ways as they come (asyncio transports, TCP_NODELAY, reading paused while the
other side's write buffer is full).  No HTTP: no parsing, no headers, no
login, no limits.  What jupyter-embedproxy does on top of this (and a
websocket after the handshake is exactly this plus a frame-size check) shows
in the ratio ``embedproxy / tcp-relay``; what a Python byte relay costs at all
on this machine shows in ``tcp-relay / direct``.
"""

import argparse
import asyncio
import socket


class Side(asyncio.Protocol):
    """One end; ``peer`` is the other."""

    def __init__(self):
        self.peer = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.peer.transport.write(data)

    def eof_received(self):
        self.peer.transport.write_eof()
        return True

    def connection_lost(self, exc):
        if self.peer.transport is not None:  # None: the client was not connected yet
            self.peer.transport.close()

    def pause_writing(self):
        self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.transport.resume_reading()


async def main(port, backend):
    loop = asyncio.get_running_loop()

    async def accept(client_sock):
        app, client = Side(), Side()
        app.peer, client.peer = client, app
        try:
            await loop.create_connection(lambda: app, "127.0.0.1", backend)
        except OSError:
            client_sock.close()
            return
        await loop.connect_accepted_socket(lambda: client, client_sock)

    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    listener.setblocking(False)
    pending = set()
    while True:
        sock, _ = await loop.sock_accept(listener)
        task = loop.create_task(accept(sock))
        pending.add(task)
        task.add_done_callback(pending.discard)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.backend))
