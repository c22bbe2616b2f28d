"""TLS: ssl= on the connection methods, start_tls, and the TLS transport.

Every test runs on stdlib asyncio and on our loop (the `loop` fixture).
On 3.11+ our TLS is a compiled SSLProtocol (src/core/transports/tls.pyx)
that follows asyncio's; on 3.10 it is asyncio's own SSLProtocol over our
stream transport.  What these tests pin down is that either is faithful:
the same handshake outcomes, protocol call sequences, flow control and
shutdown behaviour as asyncio's selector loop gives on each Python
version, for Protocols and BufferedProtocols, wherever TCP cuts the
records.

Certificates are made for the session, by `trustme` when it is installed
and by the openssl command otherwise (LOOP_TEST_CERTS=openssl forces the
latter).  Only loopback is used.  Peers that misbehave at the TLS level
(never answer close_notify, drop TCP without close_notify) are driven by
hand with ssl.SSLObject over the loop's own sock_* calls: no threads.
"""
import asyncio
import contextlib
import gc
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import weakref

import pytest

from support import run_finishing

PY311 = sys.version_info >= (3, 11)
needs_311 = pytest.mark.skipif(not PY311, reason='Python 3.11+ API')
HOST = '127.0.0.1'
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
# asyncio 3.11+ (its rewritten SSLProtocol) calls eof_received() when
# close_notify arrives; 3.10's goes straight to connection_lost() (it
# calls eof_received() only for an EOF at the TCP level).
CLOSE_NOTIFY_EOF = ['eof'] if PY311 else []


def run(loop, coro, timeout=20):
    return run_finishing(loop, coro, timeout)


# -- certificates -------------------------------------------------------------

class Certs:
    """PEM files of one test PKI, in a directory.

    ca: the trusted CA.  server: cert+key for localhost and 127.0.0.1.
    client: a client cert of the same CA.  other_ca / imposter: a second,
    untrusted CA and a localhost cert it issued.
    """
    NAMES = ('ca', 'server', 'client', 'other_ca', 'imposter')

    def __init__(self, directory):
        for name in self.NAMES:
            setattr(self, name, os.path.join(directory, name + '.pem'))


def make_certs_trustme(directory):
    import trustme
    certs = Certs(directory)
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(certs.ca)
    other.cert_pem.write_to_path(certs.other_ca)
    for path, issuer, names in (
            (certs.server, ca, ('localhost', HOST)),
            (certs.client, ca, ('client.example',)),
            (certs.imposter, other, ('localhost', HOST))):
        issuer.issue_cert(*names).private_key_and_cert_chain_pem \
            .write_to_path(path)
    return certs


# Extensions Python 3.13's strict verification (VERIFY_X509_STRICT) wants:
# key usages, key identifiers, a critical basicConstraints on the CA.
OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
"""


def make_certs_openssl(directory):
    """The same PKI with the openssl command (P-256 keys)."""
    certs = Certs(directory)
    config = os.path.join(directory, 'openssl.cnf')
    with open(config, 'w') as f:
        f.write(OPENSSL_CONFIG)
    key_args = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                '-nodes']

    def openssl(*args, san='DNS:unused'):
        subprocess.run(['openssl', *args], check=True, capture_output=True,
                       env=dict(os.environ, SAN=san), cwd=directory)

    def ca(name):
        openssl('req', '-x509', *key_args, '-config', config,
                '-extensions', 'ca', '-subj', f'/CN=Test CA {name}',
                '-days', '2', '-keyout', name + '.key', '-out', name + '.crt')

    def leaf(path, ca_name, cn, san, serial):
        name = os.path.basename(path)
        openssl('req', *key_args, '-config', config, '-subj', f'/CN={cn}',
                '-keyout', name + '.key', '-out', name + '.csr')
        openssl('x509', '-req', '-in', name + '.csr', '-CA', ca_name + '.crt',
                '-CAkey', ca_name + '.key', '-set_serial', str(serial),
                '-days', '2', '-extfile', config, '-extensions', 'leaf',
                '-out', name + '.crt', san=san)
        with open(path, 'w') as out:
            for part in ('.key', '.crt'):
                with open(os.path.join(directory, name + part)) as f:
                    out.write(f.read())

    ca('ca')
    ca('other')
    shutil.copy(os.path.join(directory, 'ca.crt'), certs.ca)
    shutil.copy(os.path.join(directory, 'other.crt'), certs.other_ca)
    leaf(certs.server, 'ca', 'localhost', f'DNS:localhost,IP:{HOST}', 1)
    leaf(certs.client, 'ca', 'client.example', 'DNS:client.example', 2)
    leaf(certs.imposter, 'other', 'localhost', f'DNS:localhost,IP:{HOST}', 3)
    return certs


def _trustme_missing():
    try:
        import trustme  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.fixture(scope='session')
def certs(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('tls-certs'))
    if os.environ.get('LOOP_TEST_CERTS') == 'openssl' or _trustme_missing():
        return make_certs_openssl(directory)
    return make_certs_trustme(directory)


def server_context(certs, *, version=None, client_ca=None):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs.server)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def client_context(certs, *, version=None, ca=None, cert=None):
    ctx = ssl.create_default_context(cafile=ca or certs.ca)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if cert is not None:
        ctx.load_cert_chain(cert)
    return ctx


@pytest.fixture
def sctx(certs):
    return server_context(certs)


@pytest.fixture
def cctx(certs):
    return client_context(certs)


# -- protocols and peers ------------------------------------------------------

class Proto(asyncio.Protocol):
    """Records what a transport tells its protocol.

    events: 'made', 'data' (once per run of data), 'eof', 'pause',
    'resume', 'lost'.  wait_for(n) waits for n bytes in all.
    """

    def __init__(self, loop, keep_open=False):
        self.loop = loop
        self.keep_open = keep_open
        self.transport = None
        self.events = []
        self.data = bytearray()
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.eof = loop.create_future()
        self.resumed = None
        self._want = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')
        self.made.set_result(transport)

    def data_received(self, data):
        assert 'eof' not in self.events and 'lost' not in self.events
        self.data += data
        if self.events[-1] != 'data':
            self.events.append('data')
        self._check()

    def eof_received(self):
        self.events.append('eof')
        self.eof.set_result(None)
        self._check()
        return self.keep_open

    def pause_writing(self):
        self.events.append('pause')
        self.resumed = self.loop.create_future()

    def resume_writing(self):
        self.events.append('resume')
        self.resumed.set_result(None)

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost.set_result(exc)
        self._check()

    def _check(self):
        if self._want is None or self._want[1].done():
            return
        size, fut = self._want
        if len(self.data) >= size:
            fut.set_result(None)
        elif self.events and self.events[-1] in ('eof', 'lost'):
            fut.set_exception(AssertionError(
                f'closed after {len(self.data)} of {size} bytes: '
                f'{self.events}'))

    async def wait_for(self, size):
        self._want = (size, self.loop.create_future())
        self._check()
        await self._want[1]


class Echo(asyncio.Protocol):
    made = None     # a list to append to when connection_made is called

    def connection_made(self, transport):
        self.transport = transport
        if self.made is not None:
            self.made.append(transport)

    def data_received(self, data):
        self.transport.write(data)


@contextlib.asynccontextmanager
async def closing(server):
    """Close the server on the way out, also when the test failed (its
    listening socket would otherwise keep accepting into a dead test)."""
    try:
        yield server
    except BaseException:
        server.close()
        raise
    server.close()
    # 3.12+ also waits for the connections: a passing test closed them.
    await asyncio.wait_for(server.wait_closed(), 10)


@contextlib.asynccontextmanager
async def serving(loop, factory, ssl_ctx, **kwargs):
    """A TCP server on 127.0.0.1: yields (server, port)."""
    server = await loop.create_server(factory, HOST, 0, ssl=ssl_ctx,
                                      **kwargs)
    async with closing(server):
        yield server, server.sockets[0].getsockname()[1]


def recording(loop, protos):
    """A Proto factory that appends each protocol it makes to `protos`."""
    def factory():
        protos.append(Proto(loop))
        return protos[-1]
    return factory


def echo_recording(made):
    """An Echo factory whose protocols append to `made` once connected
    (asyncio calls the factory before the handshake, connection_made only
    after it succeeded)."""
    def factory():
        proto = Echo()
        proto.made = made
        return proto
    return factory


class RawTLS:
    """One end of a TLS connection driven by hand (ssl.SSLObject over a
    non-blocking socket and the loop's sock_* calls), so that a test can
    make it misbehave: never answer close_notify, drop TCP without one."""

    def __init__(self, loop, sock, ctx, server_side, hostname=None):
        self.loop = loop
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing,
                                server_side=server_side,
                                server_hostname=hostname)

    async def flush(self):
        data = self.outgoing.read()
        if data:
            await self.loop.sock_sendall(self.sock, data)

    async def _feed(self):
        await self.flush()
        data = await self.loop.sock_recv(self.sock, 65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    async def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._feed()
        await self.flush()

    async def send(self, data):
        self.obj.write(data)
        await self.flush()

    async def recv(self):
        """Plaintext; b'' once close_notify came, SSLEOFError on a TCP
        EOF that came without one."""
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                await self._feed()
            except ssl.SSLZeroReturnError:
                # close_notify, once ours went out too (before, read()
                # returns b'' by itself).
                return b''

    async def recv_exactly(self, size):
        data = bytearray()
        while len(data) < size:
            chunk = await self.recv()
            assert chunk, f'close_notify after {len(data)} of {size} bytes'
            data += chunk
        return bytes(data)

    async def send_close_notify(self):
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass        # sent ours; the peer's is not awaited here
        await self.flush()


async def raw_connect(loop, port):
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (HOST, port))
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def raw_listener(loop):
    """A listening non-blocking socket on 127.0.0.1: yields (sock, port)."""
    lsock = socket.socket()
    try:
        lsock.bind((HOST, 0))
        lsock.listen()
        lsock.setblocking(False)
        yield lsock, lsock.getsockname()[1]
    finally:
        lsock.close()


async def raw_accept(loop, lsock):
    conn, _ = await loop.sock_accept(lsock)
    conn.setblocking(False)
    return conn


async def read_until_eof(loop, sock):
    data = bytearray()
    while True:
        try:
            chunk = await loop.sock_recv(sock, 65536)
        except ConnectionResetError:
            return bytes(data), 'reset'
        if not chunk:
            return bytes(data), 'eof'
        data += chunk


async def until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        await asyncio.sleep(0.005)


def record_errors(loop):
    """Collect the contexts the loop's exception handler would log."""
    errors = []
    loop.set_exception_handler(lambda lp, context: errors.append(context))
    return errors


def small_buffers(sock):
    # Small kernel buffers make back-pressure reach the sender after a
    # few hundred KiB instead of the many MiB of loopback autotuning.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)


# -- handshakes -------------------------------------------------------------

@pytest.mark.parametrize('version', [TLS12, TLS13], ids=['tls12', 'tls13'])
def test_echo_and_extra_info(loop, certs, version):
    sctx = server_context(certs, version=version)
    cctx = client_context(certs)
    errors = record_errors(loop)
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            tr, client = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            await servers[0].made
            server = servers[0]
            tr.write(b'ping')
            await server.wait_for(4)
            server.transport.write(b'pong!')
            await client.wait_for(5)

            for t, ctx, side in ((tr, cctx, 'client'),
                                 (server.transport, sctx, 'server')):
                sslobj = t.get_extra_info('ssl_object')
                assert isinstance(sslobj, ssl.SSLObject)
                assert sslobj.server_side == (side == 'server')
                assert sslobj.version() == {TLS12: 'TLSv1.2',
                                            TLS13: 'TLSv1.3'}[version]
                assert t.get_extra_info('sslcontext') is ctx
                cipher = t.get_extra_info('cipher')
                assert cipher == sslobj.cipher()
                assert cipher[1] == sslobj.version()
                assert t.get_extra_info('compression') is None
                sock = t.get_extra_info('socket')
                assert sock.family == socket.AF_INET
                assert sock.type == socket.SOCK_STREAM
                assert t.get_extra_info('peername') == sock.getpeername()
                assert t.get_extra_info('sockname') == sock.getsockname()
                assert t.get_extra_info('no such key', 'dflt') == 'dflt'
                assert not t.can_write_eof()
                assert not t.is_closing()
                # asyncio's private attributes that libraries read
                # (aiohttp: transport._ssl_protocol._sslcontext).
                ssl_protocol = t._ssl_protocol
                assert ssl_protocol._sslcontext is ctx
                assert ssl_protocol._server_side == (side == 'server')
                assert ssl_protocol._app_protocol is (
                    client if side == 'client' else server)
                raw = ssl_protocol._transport
                assert raw.get_extra_info('socket').fileno() == sock.fileno()
            assert tr._ssl_protocol._server_hostname == HOST
            assert tr.get_extra_info('peername') == (HOST, port)
            peercert = tr.get_extra_info('peercert')
            assert ('DNS', 'localhost') in peercert['subjectAltName']
            # No client certificate was asked for.
            assert server.transport.get_extra_info('peercert') is None
            assert tr.get_extra_info('server_hostname', 'x') == 'x'

            tr.close()
            assert tr.is_closing()
            assert await client.lost is None
            assert await server.lost is None
        assert client.data == b'pong!' and server.data == b'ping'
        # close() sent close_notify; the server answered and closed.
        assert server.events == ['made', 'data', *CLOSE_NOTIFY_EOF, 'lost']
        assert client.events == ['made', 'data', 'eof', 'lost']
        assert errors == []

    run(loop, main())


def test_ssl_true_uses_default_context(loop, certs, sctx, monkeypatch):
    # ssl=True means the default client context: it verifies against the
    # default trust store, which SSL_CERT_FILE points at our CA here.
    monkeypatch.setenv('SSL_CERT_FILE', certs.ca)
    monkeypatch.delenv('SSL_CERT_DIR', raising=False)

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=True)
            sslobj = tr.get_extra_info('ssl_object')
            assert sslobj.context.verify_mode == ssl.CERT_REQUIRED
            assert sslobj.context.check_hostname
            assert sslobj.server_hostname == HOST
            tr.write(b'x' * 100)
            await proto.wait_for(100)
            tr.close()
            await proto.lost

    run(loop, main())


def test_ssl_true_rejects_unknown_ca(loop, certs, sctx, monkeypatch):
    monkeypatch.setenv('SSL_CERT_FILE', certs.other_ca)
    monkeypatch.delenv('SSL_CERT_DIR', raising=False)

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            with pytest.raises(ssl.SSLCertVerificationError):
                await loop.create_connection(
                    asyncio.Protocol, HOST, port, ssl=True)

    run(loop, main())


@pytest.mark.parametrize('hostname,ok', [('localhost', True),
                                         ('wrong.example', False)])
def test_server_hostname(loop, sctx, cctx, hostname, ok):
    errors = record_errors(loop)

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            connect = loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx,
                server_hostname=hostname)
            if not ok:
                with pytest.raises(ssl.SSLCertVerificationError,
                                   match='match'):
                    await connect
                return
            tr, proto = await connect
            assert tr.get_extra_info('ssl_object').server_hostname == hostname
            tr.close()
            await proto.lost

    run(loop, main())
    assert errors == []


@pytest.mark.parametrize('version', [TLS12, TLS13], ids=['tls12', 'tls13'])
def test_untrusted_server_certificate(loop, certs, version):
    # The server presents a cert of another CA: the client refuses it;
    # the server never hands the connection to its protocol.
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(certs.imposter)
    cctx = client_context(certs, version=version)
    errors = record_errors(loop)
    made = []

    async def main():
        async with serving(loop, echo_recording(made),
                           sctx) as (_, port):
            for _ in range(3):
                with pytest.raises(ssl.SSLCertVerificationError) as info:
                    await loop.create_connection(
                        asyncio.Protocol, HOST, port, ssl=cctx)
                assert info.value.verify_code == 20     # unable to get issuer
            # Let the server notice each failure before closing.
            await asyncio.sleep(0.05)

    run(loop, main())
    assert made == []
    assert errors == []


def test_tls_version_mismatch(loop, certs):
    sctx = server_context(certs, version=TLS12)
    cctx = client_context(certs)
    cctx.minimum_version = TLS13
    made = []

    async def main():
        async with serving(loop, echo_recording(made),
                           sctx) as (_, port):
            # The server's alert, or a reset when it closed first.
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                await loop.create_connection(
                    asyncio.Protocol, HOST, port, ssl=cctx)
            await asyncio.sleep(0.05)

    run(loop, main())
    assert made == []


def test_plaintext_client_to_tls_server(loop, sctx):
    # A client that speaks HTTP to a TLS port: the server's handshake
    # fails, it closes the connection, and nothing reaches its protocol
    # nor the exception handler (an SSLError is an OSError: not logged).
    errors = record_errors(loop)
    made = []

    async def main():
        async with serving(loop, echo_recording(made),
                           sctx) as (_, port):
            sock = await raw_connect(loop, port)
            with sock:
                await loop.sock_sendall(sock, b'GET / HTTP/1.0\r\n\r\n')
                data, _ = await read_until_eof(loop, sock)
            # At most a TLS alert record (content type 21) came back.
            assert data == b'' or data[0] == 21

    run(loop, main())
    assert made == []
    assert errors == []


@pytest.mark.parametrize('version', [TLS12, TLS13], ids=['tls12', 'tls13'])
def test_mutual_tls(loop, certs, version):
    sctx = server_context(certs, version=version, client_ca=certs.ca)
    cctx = client_context(certs, cert=certs.client)
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            tr, client = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx,
                server_hostname='localhost')
            tr.write(b'hello')
            await servers[0].wait_for(5)
            peercert = servers[0].transport.get_extra_info('peercert')
            assert ('DNS', 'client.example') in peercert['subjectAltName']
            tr.close()
            await client.lost
            await servers[0].lost

    run(loop, main())


@pytest.mark.parametrize('version', [TLS12, TLS13], ids=['tls12', 'tls13'])
@pytest.mark.parametrize('cert', ['none', 'imposter'])
def test_mutual_tls_rejects_client(loop, certs, version, cert):
    sctx = server_context(certs, version=version, client_ca=certs.ca)
    cctx = client_context(
        certs, cert=None if cert == 'none' else certs.imposter)
    errors = record_errors(loop)
    made = []

    async def main():
        async with serving(loop, echo_recording(made),
                           sctx) as (_, port):
            if version == TLS12:
                # The server's verdict is part of the TLS 1.2 handshake:
                # its alert, or a reset when it closed first.
                with pytest.raises((ssl.SSLError, ConnectionResetError)):
                    await loop.create_connection(
                        asyncio.Protocol, HOST, port, ssl=cctx,
                        server_hostname='localhost')
                return
            # In TLS 1.3 the client's handshake is over before the server
            # judges its certificate: the alert arrives afterwards and ends
            # the connection before any data.
            try:
                tr, proto = await loop.create_connection(
                    lambda: Proto(loop), HOST, port, ssl=cctx,
                    server_hostname='localhost')
            except (ssl.SSLError, ConnectionError):
                return
            tr.write(b'hello?')
            exc = await proto.lost
            assert proto.data == b''
            assert exc is None or isinstance(exc, (ssl.SSLError,
                                                   ConnectionError))
            tr.close()

    run(loop, main())
    assert made == []
    assert errors == []


# -- handshake timeouts and cancellation --------------------------------------

class Silent(asyncio.Protocol):
    """A plain TCP server that never answers (a stalled TLS peer)."""

    instances = None

    def connection_made(self, transport):
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()
        if self.instances is not None:
            self.instances.append(self)

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def silent_factory(store):
    def factory():
        proto = Silent()
        proto.instances = store
        return proto
    return factory


def test_client_handshake_timeout(loop, cctx):
    peers = []

    async def main():
        async with serving(loop, silent_factory(peers), None) as (_, port):
            start = time.monotonic()
            with pytest.raises(ConnectionAbortedError, match='handshake'):
                await loop.create_connection(
                    asyncio.Protocol, HOST, port, ssl=cctx,
                    ssl_handshake_timeout=0.2)
            assert time.monotonic() - start >= 0.15
            # The client closed its socket: the server sees it go.
            await peers[0].lost

    run(loop, main())


def test_server_handshake_timeout(loop, sctx):
    made = []

    async def main():
        async with serving(loop, echo_recording(made), sctx,
                           ssl_handshake_timeout=0.2) as (_, port):
            start = time.monotonic()
            sock = await raw_connect(loop, port)
            with sock:
                # Say nothing: the server gives up and closes.
                data, _ = await read_until_eof(loop, sock)
            assert data == b''
            assert time.monotonic() - start >= 0.15

    run(loop, main())
    assert made == []


def test_cancel_client_handshake(loop, cctx):
    peers = []

    async def main():
        async with serving(loop, silent_factory(peers), None) as (_, port):
            task = loop.create_task(loop.create_connection(
                asyncio.Protocol, HOST, port, ssl=cctx))
            while not peers:
                await asyncio.sleep(0.005)
            # The ClientHello is out; the handshake waits for the server.
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await peers[0].lost

    run(loop, main())


def test_wait_for_timeout_during_handshake(loop, cctx):
    peers = []

    async def main():
        async with serving(loop, silent_factory(peers), None) as (_, port):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(loop.create_connection(
                    asyncio.Protocol, HOST, port, ssl=cctx), 0.1)
            await peers[0].lost

    run(loop, main())


def test_server_close_during_handshake(loop, sctx):
    # The server is closed while a client is stuck mid-handshake; closing
    # the client then lets the handshake fail and the server finish.
    made = []

    async def main():
        server = await loop.create_server(
            echo_recording(made), HOST, 0, ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        sock = await raw_connect(loop, port)
        with sock:
            await asyncio.sleep(0.05)
            server.close()
        await asyncio.wait_for(server.wait_closed(), 10)

    run(loop, main())
    assert made == []


# -- flow control -------------------------------------------------------------

@pytest.mark.parametrize('sender', ['client', 'server'])
def test_flow_control_both_ways(loop, sctx, cctx, sender):
    """The receiver pauses reading: no data reaches it, back-pressure
    reaches the sender (pause_writing), and resuming delivers every byte
    in order."""
    payload = os.urandom(4 * 1024 * 1024)
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (server, port):
            small_buffers(server.sockets[0])
            sock = socket.socket()
            small_buffers(sock)
            sock.connect((HOST, port))
            ctr, client = await loop.create_connection(
                lambda: Proto(loop), sock=sock, ssl=cctx,
                server_hostname='localhost')
            await servers[0].made
            if sender == 'client':
                src, dst = client, servers[0]
            else:
                src, dst = servers[0], client

            dst.transport.pause_reading()
            assert not dst.transport.is_reading()
            # A producer that honours pause_writing().  The pipeline holds
            # far less than the payload (small kernel buffers, the TLS
            # layers' water marks), so it must stall.  How many pauses and
            # resumes come first depends on when the receiver's buffers
            # fill: asyncio's 3.11+ SSLProtocol only counts what is above
            # the socket transport, which takes all it is given once the
            # kernel accepts more.
            sent = 0
            waiting = False

            async def produce():
                nonlocal sent, waiting
                chunk = 64 * 1024
                while sent < len(payload):
                    if src.events[-1] == 'pause':
                        waiting = True
                        await src.resumed
                        waiting = False
                    src.transport.write(payload[sent:sent + chunk])
                    sent += chunk
                    await asyncio.sleep(0)

            producer = asyncio.ensure_future(produce())
            # Settled: the producer waits and no pause or resume came for
            # a while (however slow the machine, e.g. under ASan).
            deadline = loop.time() + 10
            while not producer.done() and loop.time() < deadline:
                seen = len(src.events)
                await asyncio.sleep(0.2)
                if waiting and len(src.events) == seen:
                    break
            # Stalled, nothing delivered: the pause held end to end.
            assert not producer.done(), 'no back-pressure'
            assert waiting and src.events[-1] == 'pause'
            assert sent < len(payload)
            assert dst.data == b''
            assert src.transport.get_write_buffer_size() > 0

            dst.transport.resume_reading()
            assert dst.transport.is_reading()
            await producer
            await dst.wait_for(len(payload))
            if src.events[-1] == 'pause':
                await src.resumed
            assert hashlib.sha256(dst.data).digest() == \
                hashlib.sha256(payload).digest()
            assert src.transport.get_write_buffer_size() == 0
            ctr.close()
            await client.lost
            await servers[0].lost
        assert src.events.count('pause') >= 1
        assert src.events.count('pause') == src.events.count('resume')

    run(loop, main())


def test_write_buffer_limits(loop, sctx, cctx):
    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            tr.set_write_buffer_limits(high=1000, low=100)
            assert tr.get_write_buffer_limits() == (100, 1000)
            with pytest.raises(ValueError):
                tr.set_write_buffer_limits(high=10, low=100)
            tr.set_write_buffer_limits()
            low, high = tr.get_write_buffer_limits()
            assert high > low > 0
            if PY311:
                tr.set_read_buffer_limits(high=4096)
                assert tr.get_read_buffer_limits() == (1024, 4096)
                assert tr.get_read_buffer_size() == 0
            tr.close()
            await proto.lost

    run(loop, main())


# -- bulk data ---------------------------------------------------------------

@pytest.mark.parametrize('version', [TLS12, TLS13], ids=['tls12', 'tls13'])
def test_large_echo_streams(loop, certs, version):
    """8 MiB through an echo server with the streams API, both directions
    at once, compared by checksum."""
    sctx = server_context(certs, version=version)
    cctx = client_context(certs)
    size = 8 * 1024 * 1024
    chunk = 64 * 1024

    async def handle(reader, writer):
        while True:
            data = await reader.read(chunk)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, 0, ssl=sctx)
        async with closing(server):
            await transfer(server.sockets[0].getsockname()[1])

    async def transfer(port):
        reader, writer = await asyncio.open_connection(
            HOST, port, ssl=cctx, server_hostname='localhost')
        sent, received = hashlib.sha256(), hashlib.sha256()

        async def send():
            for i in range(size // chunk):
                block = struct.pack('>Q', i) * (chunk // 8)
                sent.update(block)
                writer.write(block)
                await writer.drain()

        async def receive():
            got = 0
            while got < size:
                data = await reader.read(1024 * 1024)
                assert data, f'EOF after {got} bytes'
                received.update(data)
                got += len(data)
            return got

        _, got = await asyncio.gather(send(), receive())
        assert got == size
        assert sent.digest() == received.digest()
        writer.close()
        assert await reader.read() == b''

    run(loop, main(), timeout=60)


def test_many_concurrent_connections(loop, sctx, cctx):
    async def one(port, i):
        reader, writer = await asyncio.open_connection(HOST, port, ssl=cctx)
        msg = os.urandom(1000 + i)
        for _ in range(5):
            writer.write(msg)
            assert await reader.readexactly(len(msg)) == msg
        writer.close()
        await writer.wait_closed()

    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, 0, ssl=sctx)
        async with closing(server):
            port = server.sockets[0].getsockname()[1]
            await asyncio.gather(*(one(port, i) for i in range(30)))

    run(loop, main(), timeout=60)


# -- closing ----------------------------------------------------------------

def test_write_eof_refused(loop, sctx, cctx):
    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            reader, writer = await asyncio.open_connection(
                HOST, port, ssl=cctx)
            tr = writer.transport
            assert not tr.can_write_eof()
            assert not writer.can_write_eof()
            with pytest.raises(NotImplementedError):
                tr.write_eof()
            with pytest.raises(NotImplementedError):
                writer.write_eof()
            # The connection is unharmed.
            writer.write(b'still here')
            assert await reader.readexactly(10) == b'still here'
            writer.close()
            await writer.wait_closed()

    run(loop, main())


@pytest.mark.parametrize('closer', ['client', 'server'])
def test_close_flushes_then_close_notify(loop, sctx, cctx, closer):
    # Data written just before close() is delivered, then close_notify:
    # the peer's protocol gets all the data, eof_received, connection_lost.
    payload = os.urandom(1024 * 1024)
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            _, client = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            await servers[0].made
            src, dst = ((client, servers[0]) if closer == 'client'
                        else (servers[0], client))
            src.transport.write(payload)
            src.transport.close()
            assert src.transport.is_closing()
            src.transport.write(b'ignored after close')
            assert await dst.lost is None
            assert await src.lost is None
            assert bytes(dst.data) == payload
            assert dst.events == ['made', 'data', *CLOSE_NOTIFY_EOF, 'lost']
            # The closer sees the peer's answer (close_notify and FIN).
            assert [e for e in src.events if e not in ('pause', 'resume')] \
                == ['made', 'eof', 'lost']

    run(loop, main())


@needs_311     # 3.10 calls no eof_received() for close_notify
def test_eof_received_true_is_ignored(loop, sctx, cctx, caplog):
    # TLS has no half-close: returning True from eof_received() after the
    # peer's close_notify does not keep the connection open (asyncio
    # warns), and the connection is shut down in both directions.
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            _, proto = await loop.create_connection(
                lambda: Proto(loop, keep_open=True), HOST, port, ssl=cctx)
            await servers[0].made
            servers[0].transport.write(b'bye')
            servers[0].transport.close()
            assert await proto.lost is None
            assert await servers[0].lost is None
            assert proto.data == b'bye'
            assert proto.events == ['made', 'data', 'eof', 'lost']

    with caplog.at_level('WARNING', logger='asyncio'):
        run(loop, main())
    assert 'returning true from eof_received() has no effect' in caplog.text


@needs_311     # 3.10 calls no eof_received() for close_notify
def test_peer_half_close_then_reply(loop, sctx, cctx):
    """The peer sends close_notify but keeps reading (a TLS half-close):
    the protocol may still answer from eof_received(); then our side
    sends its own close_notify and closes."""
    class Replier(Proto):
        def eof_received(self):
            self.transport.write(b'reply after eof')
            return super().eof_received()

    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: Replier(loop), HOST, port, ssl=cctx))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                _, proto = await connect
                await peer.send(b'request')
                await peer.send_close_notify()
                assert await proto.lost is None
                assert proto.data == b'request'
                assert proto.events == ['made', 'data', 'eof', 'lost']
                assert await peer.recv_exactly(15) == b'reply after eof'
                assert await peer.recv() == b''     # its close_notify
                data, _ = await read_until_eof(loop, conn)
                assert data == b''

    run(loop, main())


@pytest.mark.parametrize('how', ['close', 'abort'])
def test_close_or_abort_seen_by_raw_peer(loop, sctx, cctx, how):
    # close() performs the TLS shutdown (the peer reads close_notify);
    # abort() drops the TCP connection without it (a ragged EOF).
    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                tr, proto = await connect
                tr.write(b'last words')
                assert await peer.recv_exactly(10) == b'last words'
                getattr(tr, how)()
                assert tr.is_closing()
                if how == 'close':
                    assert await peer.recv() == b''     # close_notify
                    # Answer it: the client completes its shutdown.
                    await peer.send_close_notify()
                else:
                    # A FIN, or a RST when something was left unread.
                    with pytest.raises((ssl.SSLEOFError,
                                        ConnectionResetError)):
                        await peer.recv()
                assert await proto.lost is None
                if how == 'close':
                    assert proto.events == ['made', *CLOSE_NOTIFY_EOF, 'lost']
                else:
                    assert proto.events == ['made', 'lost']

    run(loop, main())


@needs_311
def test_close_shutdown_timeout(loop, sctx, cctx):
    # The peer never answers close_notify: after ssl_shutdown_timeout the
    # transport gives up and aborts; the protocol learns of the timeout.
    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx,
                ssl_shutdown_timeout=0.3))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                tr, proto = await connect
                start = time.monotonic()
                tr.close()
                exc = await proto.lost
                elapsed = time.monotonic() - start
                assert isinstance(exc, asyncio.TimeoutError)
                assert 0.25 <= elapsed < 10
                # close_notify did go out before the give-up.
                assert await peer.recv() == b''
                assert proto.events == ['made', 'lost']

    run(loop, main())


@needs_311
def test_server_shutdown_timeout(loop, sctx, cctx):
    # The same on the server side, with create_server's
    # ssl_shutdown_timeout.
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx,
                           ssl_shutdown_timeout=0.3) as (_, port):
            sock = await raw_connect(loop, port)
            with sock:
                peer = RawTLS(loop, sock, cctx, server_side=False,
                              hostname='localhost')
                await peer.handshake()
                await servers[0].made
                start = time.monotonic()
                servers[0].transport.close()
                exc = await servers[0].lost
                assert isinstance(exc, asyncio.TimeoutError)
                assert time.monotonic() - start >= 0.25

    run(loop, main())


@pytest.mark.parametrize('side', ['client', 'server'])
@pytest.mark.parametrize('how', ['fin', 'rst'])
def test_peer_drops_tcp_without_close_notify(loop, sctx, cctx, side, how):
    """The peer sends data then closes TCP without close_notify (FIN) or
    resets it (RST).  asyncio delivers the data; a FIN then reads as an
    ordinary EOF (eof_received, connection_lost(None)); a RST is a
    ConnectionResetError."""
    errors = record_errors(loop)
    servers = []
    factory = recording(loop, servers)

    async def drop(sock, peer, proto):
        await peer.send(b'partial')
        # Only once it arrived: a RST may overtake unread data.
        await proto.wait_for(7)
        if how == 'rst':
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack('ii', 1, 0))
            sock.close()
            return
        # A FIN without close_notify (shutdown: unread TLS 1.3 tickets
        # would turn a plain close() into a RST), then wait for the other
        # side to close.
        sock.shutdown(socket.SHUT_WR)
        await read_until_eof(loop, sock)
        sock.close()

    async def main():
        if side == 'client':
            # Our loop is the client; the peer is a hand-driven server.
            async with raw_listener(loop) as (lsock, port):
                connect = loop.create_task(loop.create_connection(
                    lambda: Proto(loop), HOST, port, ssl=cctx))
                conn = await raw_accept(loop, lsock)
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                _, proto = await connect
                await drop(conn, peer, proto)
                exc = await proto.lost
        else:
            async with serving(loop, factory, sctx) as (_, port):
                sock = await raw_connect(loop, port)
                peer = RawTLS(loop, sock, cctx, server_side=False,
                              hostname='localhost')
                await peer.handshake()
                await servers[0].made
                proto = servers[0]
                await drop(sock, peer, proto)
                exc = await proto.lost
        return proto, exc

    proto, exc = run(loop, main())
    assert proto.data == b'partial'
    if how == 'fin':
        assert exc is None
        assert proto.events == ['made', 'data', 'eof', 'lost']
    else:
        assert isinstance(exc, ConnectionResetError)
        assert proto.events == ['made', 'data', 'lost']
    assert errors == []


# -- start_tls ----------------------------------------------------------------

class StartTLSServer(asyncio.Protocol):
    """Plaintext until 'STARTTLS\\n'; answers with a plaintext preamble and
    'GO\\n' and upgrades to TLS, then echoes upper-cased.

    buffered='unsent': start_tls is called at once, while the preamble
    still fills the write buffer.  buffered='unread': reading is paused
    and start_tls waits a little, so that the client's TLS hello sits
    unread in the socket when the upgrade starts.
    """

    def __init__(self, loop, sctx, preamble, buffered='unsent'):
        self.loop = loop
        self.sctx = sctx
        self.preamble = preamble
        self.buffered = buffered
        self.buf = b''
        self.tls = None
        self.upgraded = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.tls is not None:
            self.tls.write(data.upper())
            return
        self.buf += data
        assert self.buf == b'STARTTLS\n'[:len(self.buf)], self.buf
        if self.buf == b'STARTTLS\n':
            self.transport.pause_reading()
            self.transport.write(self.preamble + b'GO\n')
            self.loop.create_task(self.upgrade())

    async def upgrade(self):
        try:
            if self.buffered == 'unread':
                await asyncio.sleep(0.1)
            else:
                assert self.transport.get_write_buffer_size() > 0
            self.tls = await self.loop.start_tls(
                self.transport, self, self.sctx, server_side=True)
        except BaseException as exc:
            self.upgraded.set_exception(exc)
            if not isinstance(exc, OSError):     # not a handshake failure
                raise
            return
        self.upgraded.set_result(self.tls)

    def connection_lost(self, exc):
        self.lost.set_result(exc)


class StartTLSClient(asyncio.Protocol):
    """Sends 'STARTTLS\\n', then waits for `expected` (the preamble and
    'GO\\n'); then the test upgrades it."""

    def __init__(self, loop, expected):
        self.loop = loop
        self.expected = expected
        self.buf = b''
        self.ready = loop.create_future()
        self.tls_data = b''
        self.lost = loop.create_future()
        self.tls_waiter = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b'STARTTLS\n')

    def data_received(self, data):
        if self.ready.done():
            self.tls_data += data
            if self.tls_waiter and len(self.tls_data) >= self.tls_waiter[0]:
                self.tls_waiter[1].set_result(None)
            return
        self.buf += data
        assert self.buf == self.expected[:len(self.buf)]
        if self.buf == self.expected:
            self.ready.set_result(None)

    async def receive(self, size):
        self.tls_waiter = (size, self.loop.create_future())
        await self.tls_waiter[1]
        return self.tls_data

    def connection_lost(self, exc):
        self.lost.set_result(exc)


@pytest.mark.parametrize('buffered', ['unsent', 'unread'])
def test_start_tls_live_connection(loop, sctx, cctx, buffered):
    """Both sides upgrade a plaintext connection that has carried data,
    with data still buffered at the upgrade (see StartTLSServer)."""
    preamble = os.urandom(512 * 1024)
    servers = []

    def factory():
        servers.append(StartTLSServer(loop, sctx, preamble, buffered))
        return servers[-1]

    async def main():
        async with serving(loop, factory, None) as (server, port):
            small_buffers(server.sockets[0])
            plain, proto = await loop.create_connection(
                lambda: StartTLSClient(loop, preamble + b'GO\n'), HOST, port)
            await proto.ready
            tls = await loop.start_tls(plain, proto, cctx,
                                       server_hostname='localhost')
            assert tls is not plain
            assert isinstance(tls, asyncio.Transport)
            assert tls.get_protocol() is proto
            assert isinstance(tls.get_extra_info('ssl_object'), ssl.SSLObject)
            assert tls.get_extra_info('peercert') is not None
            assert tls.get_extra_info('socket').getpeername() == (HOST, port)
            assert tls.get_extra_info('peername') == (HOST, port)
            stls = await servers[0].upgraded
            assert stls.get_extra_info('sslcontext') is sctx
            tls.write(b'encrypted')
            assert await proto.receive(9) == b'ENCRYPTED'
            tls.close()
            assert await proto.lost is None
            await servers[0].lost
            assert plain.is_closing()

    run(loop, main())


def test_start_tls_handshake_failure(loop, certs, sctx):
    # start_tls to a server whose certificate is not trusted: the error is
    # raised and the underlying transport closed.
    cctx = client_context(certs, ca=certs.other_ca)
    servers = []

    def factory():
        servers.append(StartTLSServer(loop, sctx, b'', 'unread'))
        return servers[-1]

    async def main():
        async with serving(loop, factory, None) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: StartTLSClient(loop, b'GO\n'), HOST, port)
            await proto.ready
            with pytest.raises(ssl.SSLCertVerificationError):
                await loop.start_tls(tr, proto, cctx,
                                     server_hostname='localhost')
            assert tr.is_closing()
            # The client's alert, or a reset when it closed first.
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                await servers[0].upgraded
            # ... and the server closed its socket.
            sock = servers[0].transport.get_extra_info('socket')
            await until(lambda: sock.fileno() == -1)

    run(loop, main())


def test_start_tls_cancelled(loop, cctx):
    # Cancelled while the peer is silent: CancelledError, and the plain
    # transport is closed (the peer sees the connection go).
    peers = []

    async def main():
        async with serving(loop, silent_factory(peers), None) as (_, port):
            tr, proto = await loop.create_connection(
                asyncio.Protocol, HOST, port)
            task = loop.create_task(loop.start_tls(
                tr, proto, cctx, server_hostname='localhost'))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert tr.is_closing()
            await peers[0].lost

    run(loop, main())


def test_start_tls_argument_errors(loop, cctx):
    async def main():
        async with serving(loop, Echo, None) as (_, port):
            tr, proto = await loop.create_connection(
                asyncio.Protocol, HOST, port)
            with pytest.raises(TypeError, match='SSLContext'):
                await loop.start_tls(tr, proto, True)
            with pytest.raises(TypeError, match='not supported'):
                await loop.start_tls(object(), proto, cctx)
            tr.close()
            await asyncio.sleep(0.01)

    run(loop, main())


@needs_311
def test_streamwriter_start_tls(loop, sctx, cctx):
    async def handle(reader, writer):
        assert await reader.readline() == b'STARTTLS\n'
        writer.write(b'GO\n')
        await writer.start_tls(sctx)
        assert writer.get_extra_info('ssl_object') is not None
        data = await reader.readexactly(6)
        writer.write(data.upper())
        await writer.drain()
        assert await reader.read() == b''
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, HOST, 0)
        async with closing(server):
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b'STARTTLS\n')
            assert await reader.readline() == b'GO\n'
            await writer.start_tls(cctx, server_hostname='localhost')
            sslobj = writer.get_extra_info('ssl_object')
            assert sslobj.version() == 'TLSv1.3'
            writer.write(b'secret')
            assert await reader.readexactly(6) == b'SECRET'
            writer.close()
            await writer.wait_closed()

    run(loop, main())


# -- the other connection methods ---------------------------------------------

def test_unix_sockets(loop, sctx, cctx, tmp_path):
    path = str(tmp_path / 'tls.sock')

    async def main():
        server = await loop.create_unix_server(
            Echo, path, ssl=sctx, ssl_handshake_timeout=5)
        async with closing(server):
            tr, proto = await loop.create_unix_connection(
                lambda: Proto(loop), path, ssl=cctx,
                server_hostname='localhost', ssl_handshake_timeout=5)
            assert tr.get_extra_info('socket').family == socket.AF_UNIX
            sslobj = tr.get_extra_info('ssl_object')
            assert sslobj.server_hostname == 'localhost'
            tr.write(b'over unix')
            await proto.wait_for(9)
            assert proto.data == b'over unix'
            tr.close()
            await proto.lost

    run(loop, main())


def test_connect_accepted_socket(loop, sctx, cctx):
    async def main():
        a, b = socket.socketpair()
        (str_, sproto), (ctr, cproto) = await asyncio.gather(
            loop.connect_accepted_socket(lambda: Proto(loop), a, ssl=sctx,
                                         ssl_handshake_timeout=5),
            loop.create_connection(lambda: Proto(loop), sock=b, ssl=cctx,
                                   server_hostname='localhost'))
        assert str_.get_extra_info('ssl_object').server_side
        ctr.write(b'hi')
        await sproto.wait_for(2)
        str_.close()
        assert await cproto.lost is None
        assert await sproto.lost is None
        assert cproto.events == ['made', *CLOSE_NOTIFY_EOF, 'lost']

    run(loop, main())


@needs_311
def test_connect_accepted_socket_shutdown_timeout(loop, sctx, cctx):
    async def main():
        a, b = socket.socketpair()
        b.setblocking(False)
        with b:
            task = loop.create_task(loop.connect_accepted_socket(
                lambda: Proto(loop), a, ssl=sctx, ssl_shutdown_timeout=0.2))
            peer = RawTLS(loop, b, cctx, server_side=False,
                          hostname='localhost')
            await peer.handshake()
            tr, proto = await task
            tr.close()
            assert isinstance(await proto.lost, asyncio.TimeoutError)

    run(loop, main())


def _argument_errors(cctx, sctx, port, path):
    """(what, coroutine factory, exception, message) of asyncio's checks."""
    def conn(**kw):
        return lambda lp: lp.create_connection(asyncio.Protocol, HOST, port,
                                               **kw)

    def sock_conn(**kw):
        def make(lp):
            return lp.create_connection(asyncio.Protocol, sock=socket.socket(),
                                        **kw)
        return make

    cases = [
        ('server_hostname without ssl',
         conn(server_hostname='localhost'), ValueError, 'server_hostname'),
        ('ssl_handshake_timeout without ssl',
         conn(ssl_handshake_timeout=1), ValueError, 'ssl_handshake_timeout'),
        ('sock and ssl without server_hostname',
         sock_conn(ssl=cctx), ValueError, 'server_hostname'),
        ('create_server ssl=True',
         lambda lp: lp.create_server(asyncio.Protocol, HOST, 0, ssl=True),
         TypeError, 'SSLContext'),
        ('create_server ssl_handshake_timeout without ssl',
         lambda lp: lp.create_server(asyncio.Protocol, HOST, 0,
                                     ssl_handshake_timeout=1),
         ValueError, 'ssl_handshake_timeout'),
        ('create_unix_connection ssl without server_hostname',
         lambda lp: lp.create_unix_connection(asyncio.Protocol, path,
                                              ssl=cctx),
         ValueError, 'server_hostname'),
        ('create_unix_connection server_hostname without ssl',
         lambda lp: lp.create_unix_connection(asyncio.Protocol, path,
                                              server_hostname='x'),
         ValueError, 'server_hostname'),
        ('create_unix_server ssl_handshake_timeout without ssl',
         lambda lp: lp.create_unix_server(asyncio.Protocol, path,
                                          ssl_handshake_timeout=1),
         ValueError, 'ssl_handshake_timeout'),
        ('connect_accepted_socket ssl_handshake_timeout without ssl',
         lambda lp: lp.connect_accepted_socket(asyncio.Protocol,
                                               socket.socket(),
                                               ssl_handshake_timeout=1),
         ValueError, 'ssl_handshake_timeout'),
    ]
    if PY311:
        cases += [
            ('ssl_shutdown_timeout without ssl',
             conn(ssl_shutdown_timeout=1), ValueError,
             'ssl_shutdown_timeout'),
            ('create_server ssl_shutdown_timeout without ssl',
             lambda lp: lp.create_server(asyncio.Protocol, HOST, 0,
                                         ssl_shutdown_timeout=1),
             ValueError, 'ssl_shutdown_timeout'),
            ('create_unix_server ssl_shutdown_timeout without ssl',
             lambda lp: lp.create_unix_server(asyncio.Protocol, path,
                                              ssl_shutdown_timeout=1),
             ValueError, 'ssl_shutdown_timeout'),
            ('connect_accepted_socket ssl_shutdown_timeout without ssl',
             lambda lp: lp.connect_accepted_socket(
                 asyncio.Protocol, socket.socket(), ssl_shutdown_timeout=1),
             ValueError, 'ssl_shutdown_timeout'),
        ]
    return cases


def test_argument_errors(loop, sctx, cctx, tmp_path):
    path = str(tmp_path / 'unused.sock')

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            for what, make, exc_type, message in _argument_errors(
                    cctx, sctx, port, path):
                with pytest.raises(exc_type, match=message):
                    await make(loop)
        # The sockets the checks refused are closed by their finalizers.
        gc.collect()

    run(loop, main())


@pytest.mark.parametrize('timeout', ['ssl_handshake_timeout',
                                     'ssl_shutdown_timeout'])
def test_non_positive_timeouts(loop, sctx, cctx, timeout):
    if timeout == 'ssl_shutdown_timeout' and not PY311:
        pytest.skip('Python 3.11+ API')

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            for value in (0, -1):
                with pytest.raises(ValueError, match='positive'):
                    await loop.create_connection(
                        asyncio.Protocol, HOST, port, ssl=cctx,
                        **{timeout: value})
            await asyncio.sleep(0.05)
        gc.collect()

    run(loop, main())


# -- application protocols and record boundaries -----------------------------

class BufferedSink(asyncio.BufferedProtocol):
    """A BufferedProtocol with a buffer of `size` bytes (offered as a
    memoryview, or as the bytearray itself): records what arrives and the
    protocol calls ('made', 'data' per run, 'eof', 'lost')."""

    def __init__(self, loop, size, offer_bytearray=False):
        self.loop = loop
        self.buf = bytearray(size)
        self.offered = self.buf if offer_bytearray else memoryview(self.buf)
        self.data = bytearray()
        self.events = []
        self.lost = loop.create_future()
        self._want = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')

    def get_buffer(self, sizehint):
        return self.offered

    def buffer_updated(self, nbytes):
        assert 0 < nbytes <= len(self.buf)
        self.data += self.buf[:nbytes]
        if self.events[-1] != 'data':
            self.events.append('data')
        if self._want and len(self.data) >= self._want[0]:
            self._want[1].set_result(None)
            self._want = None

    def eof_received(self):
        self.events.append('eof')

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost.set_result(exc)

    async def wait_for(self, size):
        if len(self.data) < size:
            self._want = (size, self.loop.create_future())
            await self._want[1]


@pytest.mark.parametrize('bufsize', [100, 256 * 1024])
def test_buffered_protocol_receives_everything(loop, sctx, cctx, bufsize):
    # A BufferedProtocol gets the decrypted bytes in its own buffer; a
    # buffer smaller than a record is filled again and again.
    payload = os.urandom(256 * 1024)

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, sink = await loop.create_connection(
                lambda: BufferedSink(loop, bufsize), HOST, port, ssl=cctx)
            for i in range(0, len(payload), 10000):
                tr.write(payload[i:i + 10000])
            await sink.wait_for(len(payload))
            assert bytes(sink.data) == payload
            tr.close()
            assert await sink.lost is None
        assert sink.events[:2] == ['made', 'data']
        assert sink.events[-1] == 'lost'

    run(loop, main())


@(pytest.mark.asyncio_differs(
    "asyncio 3.11+ reads the rest of a partly filled buffer into "
    "buf[offset:], a copy when buf is a bytearray: those bytes are lost")
  if PY311 else lambda test: test)
def test_buffered_protocol_bytearray_buffer(loop, sctx, cctx):
    # Records of 150 bytes into a 100-byte buffer: every other read starts
    # in the middle of the buffer.
    records = [bytes([i]) * 150 for i in range(20)]

    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: BufferedSink(loop, 100, offer_bytearray=True),
                HOST, port, ssl=cctx))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                tr, sink = await connect
                for record in records:
                    peer.obj.write(record)
                await peer.flush()
                await asyncio.wait_for(sink.wait_for(3000), 5)
                assert bytes(sink.data) == b''.join(records)
                tr.abort()
                await sink.lost

    run(loop, main())


def test_set_protocol_switches_protocol_kind(loop, sctx, cctx):
    # set_protocol() on a TLS transport swaps a Protocol for a
    # BufferedProtocol and back; each gets what arrives while it is set.
    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, first = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            tr.write(b'one')
            await first.wait_for(3)
            sink = BufferedSink(loop, 1000)
            sink.events.append('made')      # it replaces a live protocol
            tr.set_protocol(sink)
            assert tr.get_protocol() is sink
            tr.write(b'two')
            await sink.wait_for(3)
            third = Proto(loop)
            third.events.append('made')     # it replaces a live protocol
            tr.set_protocol(third)
            tr.write(b'three')
            await third.wait_for(5)
            assert (first.data, sink.data, third.data) == (b'one', b'two',
                                                           b'three')
            tr.close()
            assert await third.lost is None

    run(loop, main())


def test_writelines(loop, sctx, cctx):
    pieces = [b'a' * 10, bytearray(b'b' * 20), memoryview(b'c' * 30), b'']

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            for _ in range(100):
                tr.writelines(pieces)
            tr.writelines(iter([b'end']))
            await proto.wait_for(100 * 60 + 3)
            assert proto.data == b''.join(pieces) * 100 + b'end'
            tr.close()
            await proto.lost

    run(loop, main())


@pytest.mark.parametrize('how', ['byte_by_byte', 'coalesced'])
def test_record_boundaries(loop, sctx, cctx, how):
    """Records cut anywhere by TCP (one byte per segment) or several
    records and close_notify in one segment: every byte arrives, once,
    then the end of the stream."""
    messages = [os.urandom(n) for n in (1, 1000, 16384, 20000, 5)]
    expected = b''.join(messages)

    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                _, proto = await connect
                for message in messages:
                    peer.obj.write(message)     # one or more records each
                if how == 'coalesced':
                    with contextlib.suppress(ssl.SSLWantReadError):
                        peer.obj.unwrap()       # and close_notify
                wire = peer.outgoing.read()
                if how == 'byte_by_byte':
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for i in range(18000):      # well into the third record
                        await loop.sock_sendall(conn, wire[i:i + 1])
                        if i % 500 == 0:
                            await asyncio.sleep(0.001)
                    await loop.sock_sendall(conn, wire[18000:])
                    await proto.wait_for(len(expected))
                    await peer.send_close_notify()
                else:
                    await loop.sock_sendall(conn, wire)
                assert await proto.lost is None
                assert bytes(proto.data) == expected
                assert proto.events == ['made', 'data', *CLOSE_NOTIFY_EOF,
                                        'lost']

    run(loop, main(), timeout=60)


@needs_311      # 3.10's transport cannot be upgraded again
def test_start_tls_over_tls(loop_kind, loop, sctx, cctx):
    # TLS inside TLS: start_tls() on a TLS transport, on both sides.
    servers = []

    def factory():
        servers.append(StartTLSServer(loop, sctx, b'hello', 'unread'))
        return servers[-1]

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            outer, proto = await loop.create_connection(
                lambda: StartTLSClient(loop, b'helloGO\n'), HOST, port,
                ssl=cctx)
            await proto.ready
            inner = await loop.start_tls(outer, proto, cctx,
                                         server_hostname='localhost')
            assert inner.get_extra_info('ssl_object') is not \
                outer.get_extra_info('ssl_object')
            assert inner.get_extra_info('peercert') is not None
            if loop_kind == 'loop' and PY311:
                # Our TLS transport is not a socket transport: the inner
                # connection keeps its MemoryBIOs (cipherbio.pyx).
                assert outer._ssl_protocol._uses_cipher_bio
                assert not inner._ssl_protocol._uses_cipher_bio
            await servers[0].upgraded
            payload = os.urandom(100000).hex().encode()[:150000]
            inner.write(payload)
            assert await proto.receive(len(payload)) == payload.upper()
            inner.close()
            assert await proto.lost is None
            await servers[0].lost
            assert outer.is_closing()

    run(loop, main())


# -- ciphertext buffers -------------------------------------------------------

@needs_311      # set_read_buffer_limits() came with 3.11's SSLProtocol
def test_ciphertext_piles_up_to_a_raised_read_limit(loop, sctx, cctx):
    """With the read high-water mark raised to 4 MiB, a receiver that
    paused reading holds megabytes of unread ciphertext (our incoming
    buffer grows past its 256 KiB) and then delivers every byte."""
    payload = os.urandom(3 * 1024 * 1024)
    servers = []
    factory = recording(loop, servers)

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            tr, client = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            dst = await servers[0].made
            dst.set_read_buffer_limits(high=4 * 1024 * 1024)
            dst.pause_reading()
            tr.write(payload)
            await until(lambda: dst.get_read_buffer_size() > 2 * 1024 * 1024)
            assert servers[0].data == b''
            dst.resume_reading()
            await servers[0].wait_for(len(payload))
            assert hashlib.sha256(servers[0].data).digest() == \
                hashlib.sha256(payload).digest()
            assert dst.get_read_buffer_size() == 0
            tr.close()
            await client.lost
            await servers[0].lost

    run(loop, main())


def test_ssl_object_outlives_its_connection(loop, sctx, cctx):
    """The SSLObject from get_extra_info('ssl_object') stays usable after
    its connection and transports are gone (ours then still reads and
    writes through the cipher BIO, which it keeps alive)."""
    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            tr.write(b'ping')
            await proto.wait_for(4)
            obj = tr.get_extra_info('ssl_object')
            tr.close()
            await proto.lost
            return obj, weakref.ref(tr)

    obj, tr_ref = run(loop, main())
    gc.collect()
    assert tr_ref() is None
    assert obj.pending() == 0
    assert obj.version() in ('TLSv1.2', 'TLSv1.3')
    with pytest.raises(ssl.SSLError):
        obj.read(10)
    with pytest.raises(ssl.SSLError):
        obj.write(b'late')
    del obj
    gc.collect()


@needs_311      # 3.10 keeps asyncio's SSLProtocol
def test_cipher_bio_under_our_transports(loop_kind, loop, sctx, cctx,
                                         tmp_path):
    """Our SSLProtocol reads and writes through the cipher BIO over our
    TCP and Unix transports, on both sides (test_start_tls_over_tls checks
    that it keeps the MemoryBIOs over any other transport)."""
    if loop_kind != 'loop':
        pytest.skip("which BIO our SSLProtocol uses: asyncio's has only "
                    "MemoryBIOs")
    made = []

    def uses_cipher_bio(transport):
        return transport._ssl_protocol._uses_cipher_bio

    async def main():
        async with serving(loop, echo_recording(made), sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            tr.write(b'tcp')
            await proto.wait_for(3)
            assert uses_cipher_bio(tr) and uses_cipher_bio(made[0])
            tr.close()
            await proto.lost
        path = str(tmp_path / 'tls.sock')
        server = await loop.create_unix_server(echo_recording(made), path,
                                               ssl=sctx)
        async with closing(server):
            tr, proto = await loop.create_unix_connection(
                lambda: Proto(loop), path, ssl=cctx,
                server_hostname='localhost')
            tr.write(b'unix')
            await proto.wait_for(4)
            assert uses_cipher_bio(tr) and uses_cipher_bio(made[1])
            tr.close()
            await proto.lost

    run(loop, main())


# -- lifetime -------------------------------------------------------------------

@needs_311      # 3.10's SSL transport keeps its protocol
def test_protocol_keeping_its_transport_frees_without_gc(loop, certs, sctx):
    """A protocol that stores its transport makes no reference cycle
    once the connection is closed: the SSL context is freed by reference
    counting, garbage collector off (CPython's test_ssl checks the
    same)."""
    # The test's only reference to the client context: dropped at the end.
    contexts = [client_context(certs)]

    class Keeper(Proto):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.kept = transport

    async def main():
        async with raw_listener(loop) as (lsock, port):
            connect = loop.create_task(loop.create_connection(
                lambda: Keeper(loop), HOST, port, ssl=contexts[0]))
            conn = await raw_accept(loop, lsock)
            with conn:
                peer = RawTLS(loop, conn, sctx, server_side=True)
                await peer.handshake()
                tr, proto = await connect
                await peer.send(b'O')
                await proto.wait_for(1)
                tr.write(b'x' * 1000)
                assert await peer.recv_exactly(1000) == b'x' * 1000
                await peer.send_close_notify()
                await proto.eof
                tr.close()
                assert await peer.recv() == b''
                await proto.lost

    ref = weakref.ref(contexts[0])
    gc.collect()
    gc.disable()
    try:
        run(loop, main())
        contexts.clear()
        assert ref() is None
    finally:
        gc.enable()


@needs_311      # 3.10's transport differs after close()
def test_transport_after_close(loop, sctx, cctx, caplog):
    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            tr, proto = await loop.create_connection(
                lambda: Proto(loop), HOST, port, ssl=cctx)
            tr.close()
            # Writes after close() are dropped; asyncio warns from the
            # sixth on.
            with caplog.at_level('WARNING', logger='asyncio'):
                for _ in range(5):
                    tr.write(b'late')
                assert 'SSL connection is closed' not in caplog.text
                tr.write(b'late')
                assert 'SSL connection is closed' in caplog.text
            assert await proto.lost is None
            # A second close() lets go of the protocol: asyncio's methods
            # then fail on it, and closing again is harmless.
            tr.close()
            assert tr.is_closing()
            with pytest.raises(AttributeError):
                tr.get_protocol()
            with pytest.raises(AttributeError):
                tr.write(b'x')
            tr.close()
            tr.abort()

    run(loop, main())


# -- leaks ------------------------------------------------------------------

def test_no_transport_leaks(loop, certs, sctx, cctx):
    """Successful, refused and cancelled TLS connections leave no
    transport or protocol alive (the fixture checks fds)."""
    bad = client_context(certs, ca=certs.other_ca)
    refs = []

    def factory():
        proto = Proto(loop)
        refs.append(weakref.ref(proto))
        return proto

    async def main():
        async with serving(loop, factory, sctx) as (_, port):
            for _ in range(5):
                tr, proto = await loop.create_connection(
                    lambda: Proto(loop), HOST, port, ssl=cctx)
                refs.extend(weakref.ref(x) for x in (
                    tr, proto, tr.get_extra_info('ssl_object')))
                tr.write(b'x')
                tr.close()
                await proto.lost
                with pytest.raises(ssl.SSLError):
                    await loop.create_connection(
                        asyncio.Protocol, HOST, port, ssl=bad)
                task = loop.create_task(loop.create_connection(
                    asyncio.Protocol, HOST, port, ssl=cctx))
                await asyncio.sleep(0)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # The server's side of the good connections.
            for ref in refs[:]:
                proto = ref()
                if isinstance(proto, Proto) and proto.events:
                    await proto.lost
            del proto, tr
            await asyncio.sleep(0.05)

    run(loop, main())
    gc.collect()
    alive = [r() for r in refs if r() is not None]
    assert alive == []


@pytest.mark.skipif(shutil.which('openssl') is None,
                    reason='no openssl command')
def test_openssl_generated_certificates(loop, tmp_path):
    # The certificate fallback used without trustme must be good enough
    # for a verified handshake with a client certificate on every Python
    # (3.13 verifies strictly).
    certs = make_certs_openssl(str(tmp_path))
    sctx = server_context(certs, client_ca=certs.ca)
    cctx = client_context(certs, cert=certs.client)

    async def main():
        async with serving(loop, Echo, sctx) as (_, port):
            for hostname in (None, 'localhost'):
                tr, proto = await loop.create_connection(
                    lambda: Proto(loop), HOST, port, ssl=cctx,
                    server_hostname=hostname)
                tr.write(b'ok')
                await proto.wait_for(2)
                tr.close()
                await proto.lost

    run(loop, main())
