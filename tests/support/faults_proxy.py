"""A loopback TCP proxy a test can take down and bring back, to cut a client off its server.

`TcpProxy(target_port)` listens on 127.0.0.1:<free port> and forwards every connection to
127.0.0.1:<target_port>. `down()` closes the listener (new connections are refused) and shuts
every forwarded connection (existing ones break mid-stream); `up()` listens again on the same
port. `blackhole()` is the stall a dropped route or a frozen server gives: connections are
still accepted and every socket stays open, but nothing is forwarded either way (bytes wait
in the proxy and the kernel's buffers) until `up()` lets them flow again. Threads, not
asyncio: the code under test calls its driver from worker threads and tests
also call the store synchronously from the event loop's thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

_CHUNK = 65536
_ACCEPT_POLL = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Link:
    """One forwarded connection: two sockets, two pumps; the last pump to end closes both."""

    def __init__(
        self, client: socket.socket, upstream: socket.socket, flowing: threading.Event
    ) -> None:
        self.sockets = (client, upstream)
        self.flowing = flowing
        self.severed = threading.Event()
        self._guard = threading.Lock()
        self._running = 2

    def sever(self) -> None:
        """Break both directions; the pumps wake up, end, and close the sockets."""
        self.severed.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                # Blackholed: hold what was read (the rest waits in the kernel) until released.
                while not self.flowing.wait(_ACCEPT_POLL):
                    if self.severed.is_set():
                        return
                sink.sendall(data)
        except OSError:
            pass
        # One side ended: end the other too, so both peers see the connection close.
        self.sever()
        with self._guard:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self.sockets:
                sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:port -> 127.0.0.1:target_port until told to go down."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0
        self.severed = 0
        self._guard = threading.Lock()
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stop = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._held: list[socket.socket] = []

    def __enter__(self) -> TcpProxy:
        self.up()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_up(self) -> bool:
        """Whether the proxy accepts connections."""
        return self._listener is not None

    @property
    def is_blackholed(self) -> bool:
        """Whether connections are accepted but nothing is forwarded."""
        return not self._flowing.is_set()

    def blackhole(self) -> None:
        """Accept, keep every socket open, forward nothing (until `up()`)."""
        self._flowing.clear()

    def up(self) -> None:
        """Listen (again) on this proxy's port, and let every held byte flow."""
        self._flowing.set()
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(_ACCEPT_POLL)
        self._stop.clear()
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept_loop, args=(listener,), name="faults-proxy-accept", daemon=True
        )
        self._acceptor.start()

    def down(self) -> None:
        """Refuse new connections and break every forwarded one; returns once all are closed."""
        listener, self._listener = self._listener, None
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        if listener is not None:
            listener.close()
        with self._guard:
            links, self._links = self._links, []
            threads, self._threads = self._threads, []
            held, self._held = self._held, []
        for link in links:
            link.sever()
        for client in held:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        self.severed += len(links)

    def close(self) -> None:
        """Stop for good (the same as down; safe to call twice)."""
        self.down()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._guard:
                self.accepted += 1
                self._held.append(client)
                opener = threading.Thread(
                    target=self._open, args=(client,), name="faults-proxy-open", daemon=True
                )
                self._threads.append(opener)
            opener.start()

    def _open(self, client: socket.socket) -> None:
        """Connect a client to the target once connections flow (at once unless blackholed)."""
        while not self._flowing.wait(_ACCEPT_POLL):
            if self._stop.is_set():
                client.close()
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        client.settimeout(None)
        upstream.settimeout(None)
        link = _Link(client, upstream, self._flowing)
        with self._guard:
            if client in self._held:
                self._held.remove(client)
            if self._stop.is_set():
                client.close()
                upstream.close()
                return
            self._links.append(link)
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(
                    target=link.pump, args=(source, sink), name="faults-proxy-pump", daemon=True
                )
                self._threads.append(pump)
                pump.start()
