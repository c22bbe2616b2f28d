cdef extern from "include/debug.h":
    const int LOOP_DEBUG


cdef int raise_os_error() except -1:
    """Raise OSError (or its errno subclass) for the current errno."""
    cdef int code = errno
    raise os_error(code)


cdef object os_error(int code):
    """An OSError (its errno subclass) for `code`, not raised."""
    return OSError(code, os_strerror(code))


cdef extern from "<string.h>" nogil:
    const char *strerror(int errnum)


cdef str os_strerror(int code):
    return strerror(code).decode('utf-8', 'replace')


# Live-object counters of the debug build (make debug): tests check that
# every loop, poller and handle a test created is gone after it.
cdef struct LiveObjects:
    Py_ssize_t loops
    Py_ssize_t pollers
    Py_ssize_t handles
    Py_ssize_t transports

cdef LiveObjects live_objects


def _live_objects():
    """Counts of live core objects in a LOOP_DEBUG build, else None."""
    if not LOOP_DEBUG:
        return None
    return {'loops': live_objects.loops, 'pollers': live_objects.pollers,
            'handles': live_objects.handles,
            'transports': live_objects.transports}
