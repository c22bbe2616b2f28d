# What differs between the Python versions we support, decided once at import.

# 3.13 added the debug= parameter to format_helpers._format_callback_source.
cdef bint FORMAT_CALLBACK_TAKES_DEBUG = sys.version_info >= (3, 13)

# The interpreter's own create_task, used when a task factory is set so that
# factories see exactly the calling convention of this Python version.
stdlib_create_task = base_events.BaseEventLoop.create_task


try:
    from ssl import SSLSocket as ssl_SSLSocket
except ImportError:
    ssl_SSLSocket = None

cdef bint HAS_IPV6 = base_events._HAS_IPv6


cdef bint is_debug_mode():
    return coroutines._is_debug_mode()


# 3.13's Server tracks its client transports: _attach/_detach take one.
cdef bint SERVER_TRACKS_CLIENTS = sys.version_info >= (3, 13)


cdef server_attach(server, transport):
    if SERVER_TRACKS_CLIENTS:
        server._attach(transport)
    else:
        server._attach()


cdef server_detach(server, transport):
    if SERVER_TRACKS_CLIENTS:
        server._detach(transport)
    else:
        server._detach()


# ssl_shutdown_timeout arrived in 3.11 (asyncio's _accept_connection2...).
cdef bint HAS_SSL_SHUTDOWN_TIMEOUT = sys.version_info >= (3, 11)

# asyncio's own test for coroutine functions (it also knows the
# @asyncio.coroutine generators of 3.10); private name from 3.14 on.
iscoroutinefunction = getattr(coroutines, '_iscoroutinefunction', None) or \
    coroutines.iscoroutinefunction
