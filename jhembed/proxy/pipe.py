"""A connection the app switched to another protocol (websockets): bytes piped both ways.

The size of every websocket message is still followed (``FrameGuard``): a
message over ``--websocket-max-message-size`` closes both sides with 1009.
"""

from __future__ import annotations

from .wire import close_frame


def switch(exchange, data):
    """The app switched ``exchange``'s protocols: pipe bytes both ways from now on."""
    client = exchange.client
    conn = exchange.conn
    if exchange.status != 101:
        exchange._abort_response()
        return
    client.write(b"".join(exchange.raw_seen) if exchange.raw_seen else data)
    exchange.raw_seen = []
    exchange._disarm()
    fw = exchange.front.fw
    active = exchange.active

    def one_way(guard, write, sender):
        """Bytes from ``sender`` to ``write``; a message over the limit closes both."""

        def forward(chunk):
            if not guard.feed(chunk):
                fw.log.warning(
                    "%s: %s websocket message over %d bytes", exchange.req.url, sender, guard.limit
                )
                client.write(close_frame(1009, "message too big"))
                client.close()
                conn.close()
                return
            if active:
                fw.touch()
            write(chunk)

        return forward

    app_guard = FrameGuard(fw.ws_max_size)
    from_client = one_way(FrameGuard(fw.ws_max_size), conn.transport.write, "client")
    conn.raw = one_way(app_guard, client.write, "app")
    client.raw = from_client
    tail = exchange.req.raw_tail
    exchange.req.raw_tail = b""
    client.exchange = Pipe(client, conn, app_guard)
    conn.exchange = client.exchange
    client.resume()
    if tail:
        from_client(tail)


class FrameGuard:
    """Follows the client's websocket frames; refuses messages over ``limit`` bytes."""

    __slots__ = ("limit", "head", "skip", "message")

    def __init__(self, limit):
        self.limit = limit
        self.head = b""
        self.skip = 0
        self.message = 0

    def feed(self, data):
        """False when a message is too big."""
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                k = min(self.skip, n - i)
                self.skip -= k
                i += k
                continue
            need = 2 - len(self.head)
            if need > 0:
                self.head += data[i : i + need]
                i += need
                if len(self.head) < 2:
                    return True
            b0, b1 = self.head[0], self.head[1]
            size = b1 & 0x7F
            extra = (2 if size == 126 else 8 if size == 127 else 0) + (4 if b1 & 0x80 else 0)
            need = 2 + extra - len(self.head)
            if need > 0:
                self.head += data[i : i + need]
                i += min(need, n - i)
                if len(self.head) < 2 + extra:
                    return True
            if size == 126:
                size = int.from_bytes(self.head[2:4], "big")
            elif size == 127:
                size = int.from_bytes(self.head[2:10], "big")
            opcode = b0 & 0x0F
            if opcode < 8:  # data frames add up to a message; control frames do not
                self.message += size
                if self.message > self.limit:
                    return False
                if b0 & 0x80:
                    self.message = 0
            self.head = b""
            self.skip = size
        return True


class Pipe:
    """The exchange of an upgraded connection: either side closing closes the other."""

    def __init__(self, client, conn, app_guard):
        self.client = client
        self.conn = conn
        self.app_guard = app_guard  # follows the app's frames

    def going_away(self):
        """The proxy stops: tell the websocket client (1001) if between two frames."""
        guard = self.app_guard
        if not guard.skip and not guard.head and not self.client.closed:
            self.client.write(close_frame(1001, "server shutting down"))
        self.conn.close()
        self.client.close()

    def client_lost(self):
        self.conn.close()

    def upstream_lost(self):
        self.client.close()

    def client_write_paused(self, paused):
        if not self.conn.closed:
            (self.conn.transport.pause_reading if paused else self.conn.transport.resume_reading)()

    def upstream_write_paused(self, paused):
        if not self.client.closed:
            (
                self.client.transport.pause_reading
                if paused
                else self.client.transport.resume_reading
            )()

    def write_body(self, data):
        pass

    def body_done(self):
        pass
