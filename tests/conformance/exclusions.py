"""Which of CPython's test.test_asyncio tests count, and why the rest don't.

Counted tests check behaviour a user of any asyncio event loop can observe.
Excluded tests check private classes or private attributes of the stdlib
loop (BaseEventLoop, BaseSelectorEventLoop, the selector/proactor/pipe
transports, child-watcher internals) or Windows.  Every exclusion states a
fact about the *test*; "our loop differs" is never a reason.

Test ids are written without the ``test.test_asyncio.`` prefix.  A key
matches a test id when it equals the id or a dotted prefix of it
(module, module.Class), or matches it as an fnmatch pattern.  The runner
reports keys that match nothing on the running Python, so stale entries
show up.
"""
import fnmatch

# Every module of test.test_asyncio: None when its tests count, else why the
# whole module is excluded.  The runner refuses to run if a module of the
# running Python is missing here, so a new module gets a decision.
MODULES = {
    'test_base_events': None,
    'test_buffered_proto': None,
    'test_context': None,
    'test_eager_task_factory': None,
    'test_events': None,
    'test_futures': None,
    'test_futures2': None,
    'test_locks': None,
    'test_pep492': None,
    'test_proactor_events':
        'tests BaseProactorEventLoop and the proactor transports, private '
        'classes of the Windows stdlib loop, with mocked sockets',
    'test_protocols': None,
    'test_queues': None,
    'test_runners': None,
    'test_selector_events':
        'tests BaseSelectorEventLoop and the _Selector*Transport classes, '
        'private classes of the stdlib loop, with mocked selectors/sockets',
    'test_sendfile': None,
    'test_server': None,
    'test_sock_lowlevel': None,
    'test_ssl': None,
    'test_sslproto': None,
    'test_staggered': None,
    'test_streams': None,
    'test_subprocess': None,
    'test_taskgroups': None,
    'test_tasks': None,
    'test_threads': None,
    'test_timeouts': None,
    'test_transports': None,
    'test_unix_events': None,
    'test_waitfor': None,
    'test_windows_events':
        'Windows only (ProactorEventLoop, IOCP); skipped on Linux',
    'test_windows_utils': 'Windows only (asyncio.windows_utils); skipped on Linux',
}

# Classes and single tests of counted modules that are excluded.
TESTS = {
    # -- the same mixin tests on other stdlib selectors ---------------------
    # The loop column runs each mixin once, in the class that on the stdlib
    # uses EpollSelector (Linux's default); these siblings only swap the
    # stdlib loop's selector, and on the loop under test would be the
    # identical run again.
    'test_events.SelectEventLoopTests':
        'the EventLoopTestsMixin tests on the stdlib loop with '
        'selectors.SelectSelector; compared in EPollEventLoopTests',
    'test_events.PollEventLoopTests':
        'the EventLoopTestsMixin tests on the stdlib loop with '
        'selectors.PollSelector; compared in EPollEventLoopTests',
    'test_sock_lowlevel.SelectEventLoopTests':
        'the BaseSockTestsMixin tests on the stdlib loop with '
        'selectors.SelectSelector; compared in EPollEventLoopTests',
    'test_sock_lowlevel.PollEventLoopTests':
        'the BaseSockTestsMixin tests on the stdlib loop with '
        'selectors.PollSelector; compared in EPollEventLoopTests',
    'test_sendfile.SelectEventLoopTests':
        'the SendfileTestsBase tests on the stdlib loop with '
        'selectors.SelectSelector; compared in EPollEventLoopTests',
    'test_sendfile.PollEventLoopTests':
        'the SendfileTestsBase tests on the stdlib loop with '
        'selectors.PollSelector; compared in EPollEventLoopTests',

    # -- test_base_events ------------------------------------------------------
    'test_base_events.BaseEventTests':
        'tests the private helper asyncio.base_events._ipaddr_info directly',
    'test_base_events.TestSelectorUtils':
        'tests the private helper asyncio.base_events._set_nodelay',

    # BaseEventLoopTests, BaseEventLoopWithSelectorTests and
    # BaseLoopSockSendfileTests build a stdlib loop in setUp; the launcher
    # gives them the loop under test instead.  Their tests of public methods
    # count; these check BaseEventLoop's private parts.
    'test_base_events.BaseEventLoopTests.test_not_implemented':
        "calls BaseEventLoop's private _make_*_transport/_process_events/"
        '_write_to_self hooks',
    'test_base_events.BaseEventLoopTests.test__*':
        "tests BaseEventLoop's private _add_callback/_run_once and its "
        '_ready/_scheduled queues',
    'test_base_events.BaseEventLoopTests.test_call_soon':
        "asserts the handle is in BaseEventLoop's private _ready queue",
    'test_base_events.BaseEventLoopTests.test_call_later':
        "asserts the handle is in BaseEventLoop's private _scheduled heap",
    'test_base_events.BaseEventLoopTests.test_set_default_executor':
        'asserts the private attribute _default_executor',
    'test_base_events.BaseEventLoopTests.test_set_default_executor_error':
        'asserts the private attribute _default_executor',
    'test_base_events.BaseEventLoopTests.test_set_exc_handler_*':
        "runs one iteration through BaseEventLoop's private _run_once and "
        'reads base_events.logger',
    'test_base_events.BaseEventLoopTests.test_default_exc_handler_callback':
        'observes logging by replacing the module global '
        'asyncio.base_events.logger, read only by code in that module',
    'test_base_events.BaseEventLoopTests.test_default_exc_handler_coro':
        'observes logging by replacing the module global '
        'asyncio.base_events.logger, read only by code in that module',
    'test_base_events.BaseEventLoopTests.test_default_exc_handler_broken':
        'subclasses asyncio.base_events.BaseEventLoop and calls its _run_once',
    'test_base_events.BaseEventLoopTests.test_create_task':
        'subclasses asyncio.base_events.BaseEventLoop',
    'test_base_events.BaseEventLoopTests.'
    'test_single_selecter_event_callback_after_stopping':
        "drives BaseEventLoop's private _selector/_process_events by hand",
    'test_base_events.BaseEventLoopTests.test_run_forever_pre_stopped':
        "asserts a call on BaseEventLoop's private (mocked) _selector",
    'test_base_events.BaseEventLoopTests.test_custom_run_forever_integration':
        "drives BaseEventLoop's private _run_forever_setup/_run_once/"
        '_run_forever_cleanup',
    'test_base_events.BaseEventLoopTests.test_env_var_debug':
        'runs a child interpreter on stock asyncio (checks the stdlib '
        "loop's PYTHONASYNCIODEBUG handling); no injection reaches it",
    'test_base_events.BaseEventLoopWithSelectorTests.test_create_connection_*':
        'mocks the socket module seen by asyncio.base_events, or swaps the '
        "loop's own getaddrinfo()/sock_connect() to steer BaseEventLoop's "
        'create_connection internals (argument checks are kept below)',
    'test_base_events.BaseEventLoopWithSelectorTests.test_create_server_*':
        'mocks the socket module seen by asyncio.base_events, or swaps the '
        "loop's own getaddrinfo() to steer BaseEventLoop's create_server "
        'internals (argument checks are kept below)',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_*':
        'mocks the socket module seen by asyncio.base_events, or swaps the '
        "loop's own sock_connect() to steer BaseEventLoop's "
        'create_datagram_endpoint internals (argument checks are kept below)',
    'test_base_events.BaseEventLoopWithSelectorTests.test_accept_connection_*':
        "calls BaseSelectorEventLoop's private _accept_connection",
    'test_base_events.BaseEventLoopWithSelectorTests.test_log_slow_callbacks':
        'observes logging by replacing the module global '
        'asyncio.base_events.logger, read only by code in that module',
    'test_base_events.BaseLoopSockSendfileTests.test__sock_sendfile_native_failure':
        "calls the stdlib loop's private _sock_sendfile_native",
    'test_base_events.BaseLoopSockSendfileTests.test_sock_sendfile_no_fallback':
        'checks that BaseSelectorEventLoop, picked because it has no native '
        'sendfile, refuses fallback=False: a property of that class',

    # -- test_events -----------------------------------------------------------
    'test_events.*EventLoopTests.test_internal_fds':
        "checks BaseSelectorEventLoop's private _internal_fds/_csock/_ssock "
        'and skips itself on any other loop class',
    'test_events.*EventLoopTests.test_timeout_rounding':
        "counts calls of the stdlib loop's private _run_once by replacing "
        'it, and reads _selector and _clock_resolution',
    'test_events.*EventLoopTests.test_create_server_multiple_hosts_*':
        'patches asyncio.base_events.socket and the private '
        '_start_serving/_stop_serving of BaseEventLoop',

    'test_events.HandleTests.test_coroutine_like_object_debug_formatting':
        'tests the private helper asyncio.coroutines._format_coroutine',

    # -- test_runners ----------------------------------------------------------
    'test_runners.RunTests.test_asyncio_run_debug':
        'switches the default debug mode by patching the private '
        'asyncio.coroutines._is_debug_mode that BaseEventLoop.__init__ reads',

    'test_runners.RunTests.test_loop_factory_default_event_loop':
        'asserts that asyncio.EventLoop, passed as loop_factory, is the '
        "stdlib's SelectorEventLoop: a fact about the stdlib's own class",

    # -- test_sslproto ---------------------------------------------------------
    'test_sslproto.SslProtoHandshakeTests':
        'drives asyncio.sslproto.SSLProtocol (a private module) by hand '
        'with a mocked transport and SSL object, checking its private state',

    # -- test_subprocess -------------------------------------------------------
    'test_subprocess.SubprocessTransportTests':
        'tests asyncio.base_subprocess.BaseSubprocessTransport (private) '
        'through a test subclass with a mocked Popen',

    # -- test_unix_events ------------------------------------------------------
    'test_unix_events.SelectorEventLoopSignalTests':
        "tests _UnixSelectorEventLoop's private _check_signal/"
        '_handle_signal/_signal_handlers with asyncio.unix_events.signal '
        'mocked',
    'test_unix_events.SelectorEventLoopUnixSockSendfileTests':
        "calls the stdlib loop's private _sock_sendfile_native(_impl) and "
        'inspects its _selector',
    'test_unix_events.SelectorEventLoopUnixSocketTests.'
    'test_create_unix_server_bind_error':
        'mocks the socket module seen by asyncio.unix_events',
    'test_unix_events.*ChildWatcherTests':
        "tests the stdlib's child-watcher classes (BaseChildWatcher, "
        'SafeChildWatcher, FastChildWatcher) with os.waitpid mocked and '
        'their private _sig_chld/_callbacks checked',
    'test_unix_events.PolicyTests':
        "tests _UnixDefaultEventLoopPolicy's child-watcher bookkeeping "
        'through its private _watcher attribute',
    'test_unix_events.UnixReadPipeTransportTests':
        'tests the private asyncio.unix_events._UnixReadPipeTransport with '
        'a mocked loop and pipe',
    'test_unix_events.UnixWritePipeTransportTests':
        'tests the private asyncio.unix_events._UnixWritePipeTransport with '
        'a mocked loop and pipe',
}

# Tests kept although a key above covers them (a class excluded as a whole
# with a few public-behaviour tests in it), with what they check.
KEPT = {
    # Argument checks: the public contract of create_connection/
    # create_server/create_datagram_endpoint, no mocks involved.
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_host_port_sock': 'host and sock together',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_no_host_port_sock': 'neither host nor sock',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_wrong_sock': 'a datagram socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_no_ssl_server_hostname_errors':
        'server_hostname without ssl',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_ssl_server_hostname_errors':
        'ssl without a host needs server_hostname',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_connection_ssl_timeout_for_plain_socket':
        'ssl_handshake_timeout without ssl',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_wrong_sock': 'a datagram socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_ssl_timeout_for_plain_socket':
        'ssl_handshake_timeout without ssl',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_host_port_sock': 'host and sock together',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_no_host_port_sock': 'neither host nor sock',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_stream_bittype': 'a SOCK_NONBLOCK-typed socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_server_ipv6': 'start_server on ::1',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_wrong_sock': 'a stream socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_addr_error': 'malformed local_addr',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_no_matching_family':
        'local and remote address families differ',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_noaddr_nofamily': 'no address, no family',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_sock': 'an existing socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_sock_unix': 'an AF_UNIX datagram socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_sock_sockopts':
        'options not allowed with sock=',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_sockopts': 'reuse_port/allow_broadcast',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_existing_sock_unix': 'an AF_UNIX socket',
    'test_base_events.BaseEventLoopWithSelectorTests.'
    'test_create_datagram_endpoint_reuse_address_*':
        'reuse_address rejected (3.10)',
}


def _matches(key, test_id):
    return (fnmatch.fnmatchcase(test_id, key)
            or fnmatch.fnmatchcase(test_id, key + '.*'))


def classify(test_id):
    """('counted' | 'kept' | 'excluded', matching key or None, reason)."""
    for key, what in KEPT.items():
        if _matches(key, test_id):
            return 'kept', key, what
    module = test_id.partition('.')[0]
    if MODULES.get(module):
        return 'excluded', module, MODULES[module]
    for key, reason in TESTS.items():
        if _matches(key, test_id):
            return 'excluded', key, reason
    return 'counted', None, None
