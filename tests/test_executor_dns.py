"""run_in_executor, the default executor, to_thread; getaddrinfo and
getnameinfo."""
import asyncio
import concurrent.futures
import contextvars
import socket
import sys
import threading
import warnings

import pytest

# -- executors ----------------------------------------------------------------


def test_run_in_executor_default(loop):
    main_thread = threading.get_ident()

    async def main():
        return await loop.run_in_executor(
            None, lambda a, b: (a + b, threading.get_ident()), 2, 3)

    result, thread = loop.run_until_complete(main())
    assert result == 5
    assert thread != main_thread


def test_run_in_executor_returns_asyncio_future(loop):
    async def main():
        fut = loop.run_in_executor(None, int, '7')
        assert isinstance(fut, asyncio.Future)
        assert fut.get_loop() is loop
        return await fut

    assert loop.run_until_complete(main()) == 7


def test_run_in_executor_exception(loop):
    def fail():
        raise KeyError('in thread')

    async def main():
        with pytest.raises(KeyError, match='in thread'):
            await loop.run_in_executor(None, fail)

    loop.run_until_complete(main())


def test_run_in_executor_given_executor(loop):
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix='given') as pool:
        async def main():
            return await loop.run_in_executor(
                pool, lambda: threading.current_thread().name)

        assert loop.run_until_complete(main()).startswith('given')
    assert loop._default_executor is None


def test_run_in_executor_many_jobs(loop):
    async def main():
        return await asyncio.gather(
            *(loop.run_in_executor(None, pow, i, 2) for i in range(200)))

    assert loop.run_until_complete(main()) == [i * i for i in range(200)]


def test_run_in_executor_refuses_coroutines_in_debug(loop):
    async def coro_func():
        pass

    loop.set_debug(True)

    with pytest.raises(TypeError, match=r'coroutines cannot be used with '
                                        r'run_in_executor\(\)'):
        loop.run_in_executor(None, coro_func)


def test_set_default_executor(loop):
    pool = concurrent.futures.ThreadPoolExecutor(
        2, thread_name_prefix='default-pool')
    loop.set_default_executor(pool)

    async def main():
        return await loop.run_in_executor(
            None, lambda: threading.current_thread().name)

    assert loop.run_until_complete(main()).startswith('default-pool')
    loop.run_until_complete(loop.shutdown_default_executor())
    assert pool._shutdown


@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='3.10 only warns (DeprecationWarning)')
def test_set_default_executor_must_be_thread_pool(loop):
    class NotAThreadPool(concurrent.futures.Executor):
        pass

    with pytest.raises(TypeError,
                       match='executor must be ThreadPoolExecutor'):
        loop.set_default_executor(NotAThreadPool())


def test_shutdown_default_executor(loop):
    async def main():
        await loop.run_in_executor(None, int)
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError,
                           match='Executor shutdown has been called'):
            loop.run_in_executor(None, int)

    loop.run_until_complete(main())


def test_shutdown_default_executor_without_executor(loop):
    loop.run_until_complete(loop.shutdown_default_executor())
    assert loop._default_executor is None


def test_shutdown_default_executor_waits_for_jobs(loop):
    done = []

    def job():
        threading.Event().wait(0.05)
        done.append(True)

    async def main():
        loop.run_in_executor(None, job)
        await asyncio.sleep(0)
        await loop.shutdown_default_executor()
        return list(done)

    assert loop.run_until_complete(main()) == [True]


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason='shutdown_default_executor(timeout) is new in 3.12')
def test_shutdown_default_executor_timeout_accepted(loop):
    async def main():
        await loop.run_in_executor(None, int)
        await loop.shutdown_default_executor(timeout=5)

    loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason='3.12 waits for the jobs, then applies it')
def test_shutdown_default_executor_timeout_expires(loop):
    release = threading.Event()
    threads_before = set(threading.enumerate())

    async def main():
        loop.run_in_executor(None, release.wait)
        await asyncio.sleep(0)
        with pytest.warns(RuntimeWarning,
                          match='did not finishing joining its threads '
                                'within 0.05 seconds'):
            await loop.shutdown_default_executor(timeout=0.05)

    try:
        loop.run_until_complete(main())
    finally:
        release.set()
        for t in set(threading.enumerate()) - threads_before:
            t.join()


def test_to_thread_propagates_context(loop):
    var = contextvars.ContextVar('var')

    async def main():
        var.set('from the task')
        return await asyncio.to_thread(
            lambda x: (var.get(), x, threading.get_ident()), 1)

    value, arg, thread = loop.run_until_complete(main())
    assert (value, arg) == ('from the task', 1)
    assert thread != threading.get_ident()


def test_executor_job_schedules_back_on_loop(loop):
    async def main():
        fut = loop.create_future()
        await loop.run_in_executor(
            None, lambda: loop.call_soon_threadsafe(fut.set_result, 'back'))
        return await fut

    assert loop.run_until_complete(main()) == 'back'


def test_close_shuts_executor_down(loop_factory):
    ev = loop_factory()
    ev.run_until_complete(ev.run_in_executor(None, int))
    executor = ev._default_executor
    ev.close()
    assert executor._shutdown
    # close() does not wait for the worker threads: join them here.
    for t in list(executor._threads):
        t.join()


# -- getaddrinfo --------------------------------------------------------------

NUMERIC = [
    ('127.0.0.1', 80, {}),
    ('127.0.0.1', '443', {}),
    ('127.0.0.1', b'8080', {}),
    (b'127.0.0.1', 0, {}),
    ('127.0.0.1', None, {'type': socket.SOCK_STREAM}),
    ('0.0.0.0', 0, {'type': socket.SOCK_DGRAM}),
    ('::1', 80, {}),
    ('::', 80, {'family': socket.AF_INET6}),
    ('::ffff:127.0.0.1', 22, {}),
    ('fe80::1%1', 80, {}),
    ('127.0.0.1', 80, {'family': socket.AF_INET,
                       'type': socket.SOCK_STREAM,
                       'proto': socket.IPPROTO_TCP}),
    ('127.0.0.1', 80, {'flags': socket.AI_NUMERICHOST}),
    (None, 80, {'flags': socket.AI_PASSIVE}),
    (None, 80, {}),
    ('localhost', 80, {'type': socket.SOCK_STREAM}),
    ('localhost', 'http', {'type': socket.SOCK_STREAM}),
]


def getaddrinfo_args(host, port, kwargs):
    return (host, port, kwargs.get('family', 0), kwargs.get('type', 0),
            kwargs.get('proto', 0), kwargs.get('flags', 0))


@pytest.mark.parametrize('debug', [False, True], ids=['release', 'debug'])
@pytest.mark.parametrize('host, port, kwargs', NUMERIC,
                         ids=[f'{h!r}-{p!r}-{k}' for h, p, k in NUMERIC])
def test_getaddrinfo_same_as_socket(loop, host, port, kwargs, debug):
    loop.set_debug(debug)
    try:
        expected = socket.getaddrinfo(*getaddrinfo_args(host, port, kwargs))
    except socket.gaierror as exc:
        pytest.skip(f'this machine cannot resolve it: {exc}')
    got = loop.run_until_complete(loop.getaddrinfo(host, port, **kwargs))
    assert got == expected


@pytest.mark.parametrize('host, port, kwargs', [
    ('not-a-number', 80, {'flags': socket.AI_NUMERICHOST}),
    ('127.0.0.1', 'no-such-service', {'flags': socket.AI_NUMERICSERV}),
], ids=['numerichost', 'numericserv'])
def test_getaddrinfo_error_same_as_socket(loop, host, port, kwargs):
    with pytest.raises(socket.gaierror) as expected:
        socket.getaddrinfo(*getaddrinfo_args(host, port, kwargs))
    with pytest.raises(socket.gaierror) as got:
        loop.run_until_complete(loop.getaddrinfo(host, port, **kwargs))
    assert got.value.errno == expected.value.errno


def test_getaddrinfo_bad_port_type(loop):
    with pytest.raises(OSError) as expected:
        socket.getaddrinfo('127.0.0.1', 1.5)
    with pytest.raises(OSError) as got:
        loop.run_until_complete(loop.getaddrinfo('127.0.0.1', 1.5))
    assert type(got.value) is type(expected.value)
    assert str(got.value) == str(expected.value)


def test_getaddrinfo_concurrently(loop):
    hosts = ['127.0.0.1', '::1', '10.1.2.3', 'localhost'] * 10

    async def main():
        return await asyncio.gather(
            *(loop.getaddrinfo(h, 80, type=socket.SOCK_STREAM)
              for h in hosts))

    got = loop.run_until_complete(main())
    assert got == [socket.getaddrinfo(h, 80, type=socket.SOCK_STREAM)
                   for h in hosts]


def test_getaddrinfo_logged_in_debug(loop, caplog):
    import logging
    loop.set_debug(True)
    with caplog.at_level(logging.DEBUG, logger='asyncio'):
        loop.run_until_complete(loop.getaddrinfo('127.0.0.1', 80))
    assert any('Get address info 127.0.0.1:80' in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize('sockaddr, flags', [
    (('127.0.0.1', 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV),
    (('127.0.0.1', 80), socket.NI_NUMERICHOST),
    (('::1', 443, 0, 0), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV),
    (('127.0.0.1', 80), 0),
])
def test_getnameinfo_same_as_socket(loop, sockaddr, flags):
    expected = socket.getnameinfo(sockaddr, flags)
    got = loop.run_until_complete(loop.getnameinfo(sockaddr, flags))
    assert got == expected


def test_no_deprecation_warnings(loop):
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        loop.run_until_complete(loop.getaddrinfo('127.0.0.1', 80))
        loop.run_until_complete(loop.run_in_executor(None, int))
