# Declarations of the core's classes.  Every class is declared first so the
# parts can refer to each other, then each part's .pxd in dependency order.
cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport uint32_t, uint64_t, int64_t

include "core/include/linux.pxd"
include "core/include/consts.pxi"

cdef class Loop
cdef class Handle
cdef class TimerHandle
cdef class ReadyQueue
cdef class IOWatcher
cdef class LagTracer

include "core/handles.pxd"
include "core/ready.pxd"
include "core/timers.pxd"
include "core/poller.pxd"
include "core/wakeup.pxd"
include "core/tracing.pxd"
include "core/loop.pxd"
include "core/transports/stream.pxd"
include "core/transports/tls.pxd"
