# Kernel and libc interfaces the core calls directly (Linux only).
from libc.stdint cimport uint32_t, uint64_t, int64_t
from cpython.object cimport PyObject


cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EINTR
        EAGAIN
        EWOULDBLOCK
        EBADF
        ENOENT
        EEXIST
        EPERM


cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t count)
    ssize_t write(int fd, const void *buf, size_t count)
    int getpid()


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    enum:
        CLOCK_MONOTONIC
    int clock_gettime(int clk_id, timespec *tp)
    int clock_getres(int clk_id, timespec *res)


cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    ctypedef epoll_data epoll_data_t

    struct epoll_event:
        uint32_t events
        epoll_data_t data

    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLPRI
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL

    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)


cdef extern from "<sys/eventfd.h>" nogil:
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK
    int eventfd(unsigned int initval, int flags)


cdef extern from "Python.h":
    # The C-level contextvars API: entering a context directly saves the
    # bound-method call and argument tuple that Context.run() would cost.
    bint PyContext_CheckExact(object o)
    void PyObject_GC_Track(object o)
    void PyObject_GC_UnTrack(object o)
    bint PyObject_GC_IsTracked(object o)
    object PyContext_CopyCurrent()
    object PyContext_New()
    # The running thread's current context, read to see whether it holds
    # any variable without copying it (NULL until something needs one).
    # The field is in every CPython's PyThreadState since 3.7.
    ctypedef struct ThreadStateContext "PyThreadState":
        PyObject *context
    ThreadStateContext *current_thread_state "PyThreadState_Get"()
    Py_ssize_t PyObject_Size(PyObject *o)
    int PyContext_Enter(object ctx) except -1
    int PyContext_Exit(object ctx) except -1
    int PyErr_CheckSignals() except -1
    object PyObject_CallNoArgs(object callable)
    object PyObject_Call(object callable, object args, object kwargs)
    # A bytes object as a bare pointer, so that _PyBytes_Resize can shrink
    # it in place (recv_bytes).
    PyObject *new_bytes_object "PyBytes_FromStringAndSize"(
        const char *v, Py_ssize_t n) except NULL
    int _PyBytes_Resize(PyObject **pv, Py_ssize_t newsize) except -1


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len
    ssize_t writev(int fd, const iovec *iov, int iovcnt)


cdef extern from "<sys/socket.h>" nogil:
    enum:
        SHUT_WR
    ssize_t recv(int sockfd, void *buf, size_t len, int flags)
    ssize_t send(int sockfd, const void *buf, size_t len, int flags)
    int shutdown(int sockfd, int how)
