# cython: language_level=3, boundscheck=False
# cython: initializedcheck=False, cdivision=True
# The one extension module of `loop`, built as `loop._epoll`: directives,
# imports and the ordered list of the core's parts.  No logic here.

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF, Py_REFCNT
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.pythread cimport PyThread_get_thread_ident
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t
from posix.stat cimport struct_stat, stat as posix_stat
from posix.unistd cimport unlink as posix_unlink
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release,
                             PyBUF_SIMPLE, PyBUF_WRITABLE)
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from cpython.dict cimport PyDict_GetItem

import asyncio
import collections
import os
import sys
import time
import warnings
from errno import EMFILE as errno_EMFILE, ENFILE as errno_ENFILE
from errno import ENOBUFS as errno_ENOBUFS, ENOMEM as errno_ENOMEM
from socket import AF_INET, AF_INET6, SOL_SOCKET, SO_ERROR
from socket import SHUT_WR as socket_SHUT_WR
from socket import socket as socket_class
from weakref import WeakValueDictionary

from asyncio import base_events, coroutines, events, format_helpers
from asyncio import constants, futures, tasks, transports, trsock
from asyncio.futures import Future
from asyncio.tasks import Task

include "core/include/errors.pxi"
include "core/compat.pxi"
include "core/handles.pyx"
include "core/ready.pyx"
include "core/timers.pyx"
include "core/poller.pyx"
include "core/wakeup.pyx"
include "core/tracing.pyx"
include "core/loop.pyx"
include "core/transports/stream.pyx"
include "core/transports/cipherbio.pyx"
include "core/transports/tls.pyx"
include "core/transports/datagram.pyx"
include "core/sockops.pyx"
