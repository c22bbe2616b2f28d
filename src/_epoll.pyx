# cython: language_level=3, boundscheck=False
# cython: initializedcheck=False, cdivision=True
# The one extension module of `loop`, built as `loop._epoll`: directives,
# imports and the ordered list of the core's parts.  No logic here.

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.pythread cimport PyThread_get_thread_ident
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t, int64_t

import inspect
import sys
from weakref import WeakValueDictionary

from asyncio import base_events, coroutines, events, format_helpers
from asyncio import futures, tasks
from asyncio.futures import Future
from asyncio.tasks import Task

include "core/include/errors.pxi"
include "core/compat.pxi"
include "core/handles.pyx"
include "core/timers.pyx"
include "core/poller.pyx"
include "core/wakeup.pyx"
include "core/loop.pyx"
