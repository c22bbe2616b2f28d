"""A minimal HTTP/1.1 keep-alive server (httptools parser), on any loop.

    python benchmarks/servers/http_server.py --loop NAME --writes 1|2 --port N

Every request gets the same small response.  --writes 2 sends the header and
the body as two transport.write() calls, as many frameworks do: a loop that
batches writes (or not) shows it there.  Prints "READY <port>", or
"NA <reason>" and exit status 3 when the loop lacks a feature.
"""
import argparse
import asyncio
import os
import sys

import httptools

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_server import listening_socket, loops, not_available, raise_fd_limit

BODY = b'Hello, World!'
HEADER = (b'HTTP/1.1 200 OK\r\n'
          b'Content-Type: text/plain\r\n'
          b'Content-Length: %d\r\n\r\n' % len(BODY))
RESPONSE = HEADER + BODY


class HttpProtocol(asyncio.Protocol):
    writes = 1

    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools calls this once a whole request has been parsed.
    def on_message_complete(self):
        if self.writes == 1:
            self.transport.write(RESPONSE)
        else:
            self.transport.write(HEADER)
            self.transport.write(BODY)
        if not self.parser.should_keep_alive():
            self.transport.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loop', required=True, choices=loops.LOOPS)
    parser.add_argument('--writes', type=int, choices=(1, 2), default=1)
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    HttpProtocol.writes = args.writes

    lp = loops.new_loop(args.loop)
    asyncio.set_event_loop(lp)
    sock = listening_socket(args.port, None)
    port = sock.getsockname()[1]    # before rloop detaches the socket
    try:
        _server = lp.run_until_complete(
            lp.create_server(HttpProtocol, sock=sock, backlog=1024))
    except NotImplementedError as exc:
        not_available(exc)
    print('READY', port, flush=True)
    lp.run_forever()


if __name__ == '__main__':
    main()
