"""Property tests: random schedules run in the order asyncio's rules give,
on both loops.

The expected order comes from a model of those rules, not from timing:
ready callbacks run FIFO; due timers run after the callbacks already ready,
by deadline; a cancelled handle never runs, including one cancelled by an
earlier callback.  Timer deadlines are distinct (asyncio's heap orders
equal deadlines arbitrarily): k * 5 ms plus a microsecond per handle, so
however slow the machine, every loop must produce the model's order.
"""
import collections

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLOT = 0.005        # seconds between timer groups
TICK = 1e-6         # makes every deadline distinct, in scheduling order



def hypothesis_settings(max_examples):
    # No deadline: a noisy machine may be slow; the fixture only hands out
    # a factory, so sharing it between examples is fine.
    return settings(
        max_examples=max_examples, deadline=None, database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture,
                               HealthCheck.too_slow])

# -- call_soon / call_at / cancel ---------------------------------------------

op = st.one_of(
    st.tuples(st.just('soon')),
    st.tuples(st.just('at'), st.integers(0, 3)),
    st.tuples(st.just('cancel'), st.integers(0, 1000)),
    # A callback that cancels another handle when it runs.
    st.tuples(st.just('soon+cancel'), st.integers(0, 1000)),
    st.tuples(st.just('at+cancel'), st.integers(0, 3), st.integers(0, 1000)),
)


def run_schedule(loop, ops):
    """Schedule `ops` on the loop, run it, return the order of callbacks."""
    out, handles = [], []
    base = loop.time()

    def callback(idx, target):
        out.append(idx)
        if target is not None:
            handles[target % len(handles)].cancel()

    for op_ in ops:
        kind = op_[0]
        if kind == 'cancel':
            if handles:
                handles[op_[1] % len(handles)].cancel()
            continue
        idx = len(handles)
        target = op_[-1] if kind.endswith('+cancel') else None
        if kind.startswith('soon'):
            handles.append(loop.call_soon(callback, idx, target))
        else:
            when = base + op_[1] * SLOT + idx * TICK
            handles.append(loop.call_at(when, callback, idx, target))
    loop.call_at(base + 4 * SLOT, loop.stop)
    loop.run_forever()
    return out


def model_schedule(ops):
    entries, cancelled = [], set()
    for op_ in ops:
        kind = op_[0]
        if kind == 'cancel':
            if entries:
                cancelled.add(op_[1] % len(entries))
            continue
        idx = len(entries)
        target = op_[-1] if kind.endswith('+cancel') else None
        # Sort key: ready callbacks first (FIFO), then timers by deadline.
        key = (0, 0, idx) if kind.startswith('soon') else (1, op_[1], idx)
        entries.append((key, idx, target))
    out = []
    for _, idx, target in sorted(entries):
        if idx in cancelled:
            continue
        out.append(idx)
        if target is not None:
            cancelled.add(target % len(entries))
    return out


@hypothesis_settings(40)
@given(ops=st.lists(op, max_size=40))
def test_schedule_order_matches_model(loop_factory, ops):
    ev = loop_factory()
    try:
        assert run_schedule(ev, ops) == model_schedule(ops)
    finally:
        ev.close()


# -- call_soon trees: callbacks scheduling and cancelling callbacks -----------

# An action is ('cancel', j) or ('soon', [actions run by that callback]).
# Drawn flat (recursive strategies are slow to generate): each flat op
# names its parent, an earlier 'soon' op whose callback performs it, or
# none (performed at the start).
flat_op = st.one_of(
    st.tuples(st.just('soon'), st.integers(-1, 25)),
    st.tuples(st.just('cancel'), st.integers(-1, 25), st.integers(0, 1000)))


def build_tree(flat):
    """Nested actions from flat ops: [(kind, parent[, j]), ...]."""
    top, children = [], []
    for op_ in flat:
        parent = op_[1]
        if op_[0] == 'soon':
            node = ('soon', [])
            children.append(node[1])
        else:
            node = ('cancel', op_[2])
        # Only an earlier 'soon' can be a parent: no cycles.
        earlier = len(children) - (1 if op_[0] == 'soon' else 0)
        (children[parent] if 0 <= parent < earlier else top).append(node)
    return top


def run_tree(loop, actions):
    out, handles = [], []

    def perform(acts):
        for act in acts:
            if act[0] == 'cancel':
                if handles:
                    handles[act[1] % len(handles)].cancel()
            else:
                idx = len(handles)
                handles.append(loop.call_soon(callback, idx, act[1]))

    def callback(idx, children):
        out.append(idx)
        perform(children)

    perform(actions)
    # One pass per run_forever(); a level of the tree per pass.  Done when
    # every handle has run or was cancelled.
    ran = set()
    for _ in range(1000):
        ran.update(out)
        if all(i in ran or h.cancelled() for i, h in enumerate(handles)):
            break
        loop.call_soon(loop.stop)
        loop.run_forever()
    return out


def model_tree(actions):
    out, handles_children, cancelled = [], [], set()
    queue = collections.deque()

    def perform(acts):
        for act in acts:
            if act[0] == 'cancel':
                if handles_children:
                    cancelled.add(act[1] % len(handles_children))
            else:
                idx = len(handles_children)
                handles_children.append(act[1])
                queue.append(idx)

    perform(actions)
    while queue:
        idx = queue.popleft()
        if idx in cancelled:
            continue
        out.append(idx)
        perform(handles_children[idx])
    return out


@hypothesis_settings(100)
@given(flat=st.lists(flat_op, max_size=40))
def test_call_soon_trees_match_model(loop_factory, flat):
    actions = build_tree(flat)
    ev = loop_factory()
    try:
        assert run_tree(ev, actions) == model_tree(actions)
    finally:
        ev.close()


@pytest.mark.parametrize('seed_ops', [
    [('soon',), ('cancel', 0), ('soon',)],
    [('at', 3), ('at', 0), ('soon+cancel', 0), ('at+cancel', 1, 2)],
])
def test_schedule_examples(loop, seed_ops):
    # Two fixed cases, readable without hypothesis.
    assert run_schedule(loop, seed_ops) == model_schedule(seed_ops)
