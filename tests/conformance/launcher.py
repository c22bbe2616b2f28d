"""Run one module of CPython's test.test_asyncio in this process.

    python launcher.py --target asyncio|loop|uvloop|... --module test_tasks \
        --out results.jsonl [--skip ids.txt] [--only ids.txt] \
        [--test-timeout 120]

With ``--target asyncio`` nothing is patched: the stock classes run exactly
as CPython runs them.  With any other target (a module offering
``new_event_loop()``) the loop under test is injected wherever the suite
makes a loop: see ``inject()``.

Every outcome is appended to ``--out`` as one JSON line as soon as it is
known, so a hang or crash loses nothing already run: the runner (run.py)
reads the lines, marks the test that was in flight, and starts this
launcher again with the tests already seen listed in ``--skip``.
"""
import argparse
import asyncio
import faulthandler
import importlib
import json
import os
import signal
import sys
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exclusions

PACKAGE = 'test.test_asyncio'


# -- injecting the loop under test ------------------------------------------

def inject(target):
    """Make every loop the suite creates through public means a target loop.

    1. The policy: asyncio.new_event_loop(), asyncio.run(), Runner() and
       unittest.IsolatedAsyncioTestCase all ask the policy.  Tests reset it
       with set_event_loop_policy(None), which builds a new
       asyncio.DefaultEventLoopPolicy, so that name is pointed at the
       target's policy class too.
    2. Test classes that build a stdlib loop by name (the mixins'
       create_event_loop() / new_loop()): FACTORY_OVERRIDES replaces them
       with subclasses whose factory returns a target loop (see there).

    The virtual-time test_utils.TestLoop that some tests build with
    new_test_loop() cannot be replaced (its clock is driven by a generator
    in the test); those tests are recorded as not having touched the loop
    under test (``on_target`` false), see Probe.
    """
    mod = importlib.import_module(target)
    factory = mod.new_event_loop
    policy_cls = getattr(mod, 'EventLoopPolicy', None)
    if policy_cls is None:
        # uvloop >= 0.22 dropped its policy class; give it the generic one.
        class policy_cls(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                return factory()
    asyncio.DefaultEventLoopPolicy = policy_cls
    if sys.platform != 'win32':
        asyncio.unix_events.DefaultEventLoopPolicy = policy_cls
    asyncio.set_event_loop_policy(policy_cls())
    patch_close_loop()
    return factory


def patch_close_loop():
    """Let test_utils.TestCase's teardown close loops without the stdlib's
    private _default_executor.

    The stock close_loop() reads loop._default_executor (a BaseEventLoop
    attribute) to shut the executor down; on a loop lacking it, every test
    using the fixture would error in teardown.  Such a loop's executor is
    shut down through the public shutdown_default_executor() instead, and
    the rest of the stock teardown runs unchanged.  Loops that have the
    attribute take the stock path untouched.
    """
    from test.test_asyncio import utils as test_utils
    stock = test_utils.TestCase.close_loop

    class WithoutExecutor:
        _default_executor = None

        def __init__(self, loop):
            self._loop = loop

        def __getattr__(self, name):
            return getattr(self._loop, name)

    def close_loop(loop):
        if hasattr(loop, '_default_executor'):
            return stock(loop)
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_default_executor())
        return stock(WithoutExecutor(loop))
    test_utils.TestCase.close_loop = staticmethod(close_loop)


def runner_fixture_loop(factory, stock, name):
    """test_runners' BaseTest.new_loop(), on the target loop.

    The stock fixture builds a BaseEventLoop with a mocked selector and
    replaces shutdown_asyncgens() with a stub recording that it was called
    (tearDown checks it).  The same stub goes on a target loop, so the
    asyncio.run()/Runner tests drive a real loop under test.
    """
    def new_loop(self):
        loop = factory()
        loop.shutdown_ag_run = False

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop
    return new_loop


def plain(factory, stock, name):
    """A factory method (create_event_loop/new_loop) returning a target loop."""
    def make(self):
        return factory()
    return make


def building(dotted):
    """The stock setUp, run while the class named `dotted` makes target loops.

    For fixtures that build the stdlib loop inline (``self.loop =
    asyncio.SelectorEventLoop()``): the setUp is the suite's own, only the
    name it calls is pointed at the target for its duration.
    """
    mod_name, attr = dotted.rsplit('.', 1)

    def fixture(factory, stock, name):
        stock_setup = getattr(stock, name)

        def setUp(self):
            mod = importlib.import_module(mod_name)
            saved = getattr(mod, attr)
            setattr(mod, attr, lambda *args, **kwargs: factory())
            try:
                stock_setup(self)
            finally:
                setattr(mod, attr, saved)
        return setUp
    return fixture


# module -> class -> {method: fixture}; fixture(factory, stock class, method
# name) returns the replacement method.  Each class here hard-codes a stdlib
# loop in its fixture.  For the mixin classes, the stdlib-selector siblings
# (Select/Poll/Kqueue/Proactor variants) are excluded in exclusions.py, so
# the one kept is the one whose ids the columns compare.
FACTORY_OVERRIDES = {
    'test_events': {'EPollEventLoopTests': {'create_event_loop': plain}},
    'test_sock_lowlevel': {'EPollEventLoopTests': {'create_event_loop': plain}},
    'test_sendfile': {'EPollEventLoopTests': {'create_event_loop': plain}},
    'test_server': {'SelectorStartServerTests': {'new_loop': plain}},
    'test_sslproto': {'SelectorStartTLSTests': {'new_loop': plain}},
    'test_buffered_proto': {
        'BufferedProtocolSelectorTests': {'new_loop': plain}},
    'test_runners': {
        'RunTests': {'new_loop': runner_fixture_loop},
        'RunnerTests': {'new_loop': runner_fixture_loop}},
    'test_base_events': {
        'BaseEventLoopTests': {
            'setUp': building('asyncio.base_events.BaseEventLoop')},
        'BaseEventLoopWithSelectorTests': {
            'setUp': building('asyncio.SelectorEventLoop')},
        'BaseLoopSockSendfileTests': {
            'setUp': building('asyncio.selector_events.BaseSelectorEventLoop')},
    },
    'test_pep492': {
        'LockTests': {'setUp': building('asyncio.BaseEventLoop')},
        'StreamReaderTests': {'setUp': building('asyncio.BaseEventLoop')},
        'CoroutineTests': {'setUp': building('asyncio.BaseEventLoop')},
    },
    'test_unix_events': {
        'SelectorEventLoopUnixSocketTests': {
            'setUp': building('asyncio.SelectorEventLoop')},
    },
}


def override_factories(module, short, factory):
    """Swap in subclasses that keep the stock class's name, so a test's id
    is the same in both columns and the runner can compare them id by id."""
    for cls_name, methods in FACTORY_OVERRIDES.get(short, {}).items():
        stock = getattr(module, cls_name, None)
        if stock is None:       # not on this Python
            continue
        ns = {name: fixture(factory, stock, name)
              for name, fixture in methods.items()}
        ns['__module__'] = stock.__module__
        ns['__qualname__'] = stock.__qualname__
        setattr(module, cls_name, type(stock.__name__, (stock,), ns))


class Probe:
    """Counts the loops built while a test runs (the target's and stdlib's).

    A test that built no target loop did not exercise the loop under test;
    one that built a stdlib loop (other than the virtual-time TestLoop) in
    the target column is a place injection missed.
    """

    def __init__(self, target_cls):
        self.target = self.stdlib = self.testloop = 0
        self._patch(target_cls, 'target')
        from asyncio import base_events
        self._patch(base_events.BaseEventLoop, None)

    def _patch(self, cls, kind):
        probe = self
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            if kind is not None:
                probe.target += 1
            elif type(self).__name__ == 'TestLoop':
                probe.testloop += 1
            else:
                probe.stdlib += 1
            init(self, *args, **kwargs)
        cls.__init__ = __init__

    def reset(self):
        self.target = self.stdlib = self.testloop = 0


# -- recording outcomes -----------------------------------------------------

def short_id(test_id):
    return test_id[len(PACKAGE) + 1:] if test_id.startswith(PACKAGE) else test_id


def describe(err):
    """'ExcType: first line of the message' and the innermost frame."""
    etype, value, tb = err
    lines = str(value).strip().splitlines()
    first = lines[0] if lines else ''
    detail = f'{etype.__name__}: {first}' if first else etype.__name__
    where = ''
    frames = traceback.extract_tb(tb)
    if frames:
        f = frames[-1]
        where = f'{os.path.basename(f.filename)}:{f.lineno} in {f.name}'
    text = ''.join(traceback.format_exception(etype, value, tb))
    return detail[:300], where, text[-4000:]


class Recorder(unittest.TestResult):
    """Writes one JSON line per test; arms a per-test watchdog."""

    def __init__(self, out, probe, test_timeout):
        super().__init__()
        self.out = out
        self.probe = probe
        self.test_timeout = test_timeout
        self.current = None

    def emit(self, **record):
        self.out.write(json.dumps(record) + '\n')
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self.current = {'id': short_id(test.id()), 'outcome': 'pass',
                        't0': time.monotonic()}
        self.emit(event='start', id=self.current['id'])
        if self.probe:
            self.probe.reset()
        # A hung test must not take the rest of the module with it: dump
        # the stacks and exit; the runner records the hang and resumes.
        faulthandler.dump_traceback_later(self.test_timeout, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        cur, self.current = self.current, None
        rec = {'event': 'result', 'id': cur['id'], 'outcome': cur['outcome'],
               'seconds': round(time.monotonic() - cur['t0'], 3)}
        for key in ('detail', 'where', 'traceback'):
            if key in cur:
                rec[key] = cur[key]
        if self.probe:
            rec['target_loops'] = self.probe.target
            rec['stdlib_loops'] = self.probe.stdlib
            rec['test_loops'] = self.probe.testloop
        self.emit(**rec)
        super().stopTest(test)

    def _set(self, outcome, err=None, reason=None):
        cur = self.current
        # The first failure of a test (or of one of its subtests) is the
        # one reported; a later pass or skip must not hide it.
        if cur['outcome'] in ('fail', 'error'):
            return
        cur['outcome'] = outcome
        if err is not None:
            cur['detail'], cur['where'], cur['traceback'] = describe(err)
        elif reason is not None:
            cur['detail'] = str(reason)[:300]

    def addSuccess(self, test):
        super().addSuccess(test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set('fail', err)

    def addError(self, test, err):
        super().addError(test, err)
        if self.current is None:
            # setUpClass / setUpModule / tearDownClass failure: unittest
            # reports it on a placeholder, outside any test.
            detail, where, text = describe(err)
            self.emit(event='fixture_error', id=test.id(), detail=detail,
                      where=where, traceback=text)
        else:
            self._set('error', err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self.current is None:    # a whole class skipped in setUpClass
            self.emit(event='fixture_skip', id=test.id(), detail=reason)
        else:
            self._set('skip', reason=reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set('xfail')

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set('xpass')

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._set('fail' if failed else 'error', err)


def read_ids(path):
    if not path:
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--target', required=True)
    ap.add_argument('--module', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--skip', help='file of test ids not to run again')
    ap.add_argument('--only', help='file of the test ids to run (a retry)')
    ap.add_argument('--test-timeout', type=float, default=120)
    args = ap.parse_args()

    faulthandler.enable()
    # The suite expects the interpreter's default SIGINT handling (tests
    # interrupt themselves with _thread.interrupt_main()); a runner started
    # in the background hands its children SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    skip, only = read_ids(args.skip), read_ids(args.only)

    with open(args.out, 'a') as out:
        def emit(**record):
            out.write(json.dumps(record) + '\n')
            out.flush()

        probe = None
        if args.target != 'asyncio':
            try:
                factory = inject(args.target)
                probe_loop = factory()
                probe = Probe(type(probe_loop))
                probe_loop.close()
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                emit(event='fixture_error', id=args.module,
                     detail=f'{args.target} unusable: '
                            f'{type(exc).__name__}: {exc}'[:300])
                return 1

        try:
            module = importlib.import_module(f'{PACKAGE}.{args.module}')
        except BaseException as exc:  # noqa: BLE001 - SkipTest says why
            emit(event='fixture_error', id=args.module,
                 detail=f'{type(exc).__name__}: {exc}'[:300])
            return 0
        if probe is not None:
            override_factories(module, args.module, factory)

        tests = []
        for test in flatten(unittest.defaultTestLoader.loadTestsFromModule(
                module)):
            tid = short_id(test.id())
            if tid in skip or (args.only and tid not in only):
                continue
            status, key, _ = exclusions.classify(tid)
            if status == 'excluded':
                emit(event='excluded', id=tid, rule=key)
                continue
            if status == 'kept':
                emit(event='kept', id=tid, rule=key)
            tests.append(test)

        result = Recorder(out, probe, args.test_timeout)
        # One suite in loader order: unittest runs setUpClass/setUpModule
        # and their teardowns around the flat list as it would nested.
        unittest.TestSuite(tests).run(result)
        emit(event='done')
    return 0


if __name__ == '__main__':
    sys.exit(main())
