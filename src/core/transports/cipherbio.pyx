# The ciphertext buffers of a TLS connection, as an OpenSSL BIO.
#
# ssl.MemoryBIO costs a 16 KiB TLS echo about 10% of its CPU time: each
# BIO_write into it grows OpenSSL's BUF_MEM, which zeroes the new bytes
# before copying into them, and reading it out allocates a bytes object
# and copies again (perf, docs/benchmarks.md "TLS").  This BIO is two
# plain buffers instead:
#   incoming  the raw transport receives straight into it (get_buffer);
#             OpenSSL reads records out of it;
#   outgoing  OpenSSL writes records into it; the raw transport sends
#             straight from it, copying only what the kernel does not take.
# It replaces the MemoryBIOs under the connection's ssl.SSLObject, so the
# SSLObject the application sees (ssl_object) is the usual one.
#
# The ssl module does not expose its SSL pointer: it is read from the
# _ssl objects, whose first fields have had the same layout since Python
# 3.0 (other projects rely on it too), and checked against the MemoryBIOs
# the SSL holds before anything is changed.  OpenSSL's functions are taken
# from the libssl the _ssl module is linked with (dlsym on the _ssl
# module), never from a copy of our own.  When any of this is missing the
# connection keeps its MemoryBIOs (TLSCore handles both).
#
# OpenSSL calls these BIO functions with the GIL released (inside
# SSL_read/SSL_write): they touch C memory only.  The buffers belong to
# the BIO and are freed with it, so an SSLObject used after its
# connection is gone never sees freed memory.

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memmove

cdef extern from "<dlfcn.h>" nogil:
    void *dlopen(const char *filename, int flags)
    void *dlsym(void *handle, const char *symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

cdef extern from *:
    """
    /* The first fields of the _ssl module's objects (Modules/_ssl.c). */
    typedef struct {
        PyObject_HEAD
        PyObject *Socket;
        void *ssl;
    } loop_PySSLSocket;

    typedef struct {
        PyObject_HEAD
        void *bio;
    } loop_PySSLMemoryBIO;
    """
    ctypedef struct loop_PySSLSocket:
        void *ssl
    ctypedef struct loop_PySSLMemoryBIO:
        void *bio

# OpenSSL's constants (openssl/bio.h), stable since 1.1.0.
cdef enum:
    BIO_TYPE_SOURCE_SINK = 0x0400
    BIO_FLAGS_READ = 0x01
    BIO_FLAGS_RWS = 0x07
    BIO_FLAGS_SHOULD_RETRY = 0x08
    BIO_CTRL_EOF = 2
    BIO_CTRL_PENDING = 10
    BIO_CTRL_FLUSH = 11
    BIO_CTRL_WPENDING = 13

ctypedef int (*bio_write_fn)(void *, const char *, int) noexcept nogil
ctypedef int (*bio_read_fn)(void *, char *, int) noexcept nogil
ctypedef long (*bio_ctrl_fn)(void *, int, long, void *) noexcept nogil
ctypedef int (*bio_life_fn)(void *) noexcept nogil

# The OpenSSL functions used, resolved once (load_openssl).
cdef struct OpenSSLFunctions:
    int (*BIO_get_new_index)() noexcept nogil
    void *(*BIO_meth_new)(int, const char *) noexcept nogil
    int (*BIO_meth_set_write)(void *, bio_write_fn) noexcept nogil
    int (*BIO_meth_set_read)(void *, bio_read_fn) noexcept nogil
    int (*BIO_meth_set_ctrl)(void *, bio_ctrl_fn) noexcept nogil
    int (*BIO_meth_set_create)(void *, bio_life_fn) noexcept nogil
    int (*BIO_meth_set_destroy)(void *, bio_life_fn) noexcept nogil
    void *(*BIO_new)(void *) noexcept nogil
    int (*BIO_up_ref)(void *) noexcept nogil
    int (*BIO_free)(void *) noexcept nogil
    void (*BIO_set_data)(void *, void *) noexcept nogil
    void *(*BIO_get_data)(void *) noexcept nogil
    void (*BIO_set_init)(void *, int) noexcept nogil
    void (*BIO_set_flags)(void *, int) noexcept nogil
    void (*BIO_clear_flags)(void *, int) noexcept nogil
    void *(*SSL_get_rbio)(void *) noexcept nogil
    void *(*SSL_get_wbio)(void *) noexcept nogil
    void (*SSL_set0_rbio)(void *, void *) noexcept nogil
    void (*SSL_set0_wbio)(void *, void *) noexcept nogil

cdef OpenSSLFunctions ossl
cdef void *cipher_bio_method = NULL
cdef int openssl_state = 0      # 0: not tried yet, 1: ready, -1: unavailable


cdef int cipher_bio_create(void *bio) noexcept nogil:
    cdef CipherBuffers *bufs = <CipherBuffers *>malloc(sizeof(CipherBuffers))
    if bufs == NULL:
        return 0
    bufs.incoming = bufs.outgoing = NULL
    bufs.in_start = bufs.in_end = bufs.in_size = 0
    bufs.out_len = bufs.out_size = 0
    ossl.BIO_set_data(bio, bufs)
    ossl.BIO_set_init(bio, 1)
    return 1


cdef int cipher_bio_destroy(void *bio) noexcept nogil:
    cdef CipherBuffers *bufs = <CipherBuffers *>ossl.BIO_get_data(bio)
    if bufs != NULL:
        free(bufs.incoming)
        free(bufs.outgoing)
        free(bufs)
        ossl.BIO_set_data(bio, NULL)
    return 1


cdef int cipher_bio_read(void *bio, char *out, int size) noexcept nogil:
    # A MemoryBIO's behaviour: "retry" when empty (no EOF is ever written
    # into asyncio's incoming BIO either).
    cdef CipherBuffers *bufs = <CipherBuffers *>ossl.BIO_get_data(bio)
    cdef Py_ssize_t count = bufs.in_end - bufs.in_start
    ossl.BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY)
    if size <= 0:
        return 0
    if count == 0:
        ossl.BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
        return -1
    if count > size:
        count = size
    memcpy(out, bufs.incoming + bufs.in_start, count)
    bufs.in_start += count
    if bufs.in_start == bufs.in_end:
        bufs.in_start = bufs.in_end = 0
    return <int>count


cdef int cipher_bio_write(void *bio, const char *data, int size) noexcept nogil:
    cdef CipherBuffers *bufs = <CipherBuffers *>ossl.BIO_get_data(bio)
    cdef Py_ssize_t needed, new_size
    cdef char *grown
    ossl.BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY)
    if size <= 0:
        return 0
    needed = bufs.out_len + size
    if needed > bufs.out_size:
        new_size = bufs.out_size * 2
        if new_size < needed:
            new_size = needed
        grown = <char *>realloc(bufs.outgoing, new_size)
        if grown == NULL:
            return -1       # OpenSSL reports the failed write
        bufs.outgoing = grown
        bufs.out_size = new_size
    memcpy(bufs.outgoing + bufs.out_len, data, size)
    bufs.out_len = needed
    return size


cdef long cipher_bio_ctrl(void *bio, int cmd, long num,
                          void *ptr) noexcept nogil:
    cdef CipherBuffers *bufs = <CipherBuffers *>ossl.BIO_get_data(bio)
    if cmd == BIO_CTRL_FLUSH:
        return 1        # the raw transport sends what was written
    if cmd == BIO_CTRL_PENDING:
        return bufs.in_end - bufs.in_start
    if cmd == BIO_CTRL_WPENDING:
        return bufs.out_len
    if cmd == BIO_CTRL_EOF:
        return bufs.in_end == bufs.in_start
    return 0            # what a MemoryBIO answers to other requests


cdef int load_openssl() except -1:
    """Resolve OpenSSL's functions in the libssl of the _ssl module and
    make the BIO method: openssl_state 1 on success, -1 when unavailable."""
    global cipher_bio_method, openssl_state
    cdef void *handle
    cdef void **slots = <void **>&ossl
    cdef Py_ssize_t i
    openssl_state = -1
    if not (3, 11) <= sys.version_info < (3, 16):
        return 0        # the layout of _ssl's objects is checked for these
    try:
        import _ssl
    except ImportError:
        return 0
    path = getattr(_ssl, '__file__', None)
    if path is None:    # built into the interpreter
        handle = dlopen(NULL, RTLD_NOW)
    else:
        handle = dlopen(os.fsencode(path), RTLD_NOW | RTLD_NOLOAD)
    if handle == NULL:
        return 0
    names = (b'BIO_get_new_index', b'BIO_meth_new', b'BIO_meth_set_write',
             b'BIO_meth_set_read', b'BIO_meth_set_ctrl',
             b'BIO_meth_set_create', b'BIO_meth_set_destroy', b'BIO_new',
             b'BIO_up_ref', b'BIO_free', b'BIO_set_data', b'BIO_get_data',
             b'BIO_set_init', b'BIO_set_flags', b'BIO_clear_flags',
             b'SSL_get_rbio', b'SSL_get_wbio', b'SSL_set0_rbio',
             b'SSL_set0_wbio')
    assert len(names) * sizeof(void *) == sizeof(OpenSSLFunctions)
    for i, name in enumerate(names):
        slots[i] = dlsym(handle, name)
        if slots[i] == NULL:
            return 0
    method = ossl.BIO_meth_new(
        ossl.BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, b'loop ciphertext')
    if (method == NULL or
            not ossl.BIO_meth_set_write(method, cipher_bio_write) or
            not ossl.BIO_meth_set_read(method, cipher_bio_read) or
            not ossl.BIO_meth_set_ctrl(method, cipher_bio_ctrl) or
            not ossl.BIO_meth_set_create(method, cipher_bio_create) or
            not ossl.BIO_meth_set_destroy(method, cipher_bio_destroy)):
        return 0
    cipher_bio_method = method
    openssl_state = 1
    return 0


cdef void *attach_cipher_bio(object sslobj, object incoming,
                             object outgoing) except? NULL:
    """Put a new cipher BIO under sslobj (a plain ssl.SSLObject over the
    MemoryBIOs incoming and outgoing, before any SSL call) and return it,
    with a reference for the caller; NULL when this cannot be done."""
    cdef void *ssl
    cdef void *bio
    if openssl_state == 0:
        load_openssl()
    if openssl_state != 1:
        return NULL
    c_sslobj = getattr(sslobj, '_sslobj', None)
    if (type(c_sslobj).__name__ != '_SSLSocket' or
            type(incoming) is not ssl_MemoryBIO or
            type(outgoing) is not ssl_MemoryBIO):
        return NULL
    ssl = (<loop_PySSLSocket *>c_sslobj).ssl
    if (ssl == NULL or
            ossl.SSL_get_rbio(ssl) !=
            (<loop_PySSLMemoryBIO *>incoming).bio or
            ossl.SSL_get_wbio(ssl) !=
            (<loop_PySSLMemoryBIO *>outgoing).bio):
        return NULL
    bio = ossl.BIO_new(cipher_bio_method)
    if bio == NULL:
        raise MemoryError()
    # One reference is the caller's; SSL_set0_* take one each and drop the
    # SSL's references to the MemoryBIOs (whose Python objects keep theirs).
    ossl.BIO_up_ref(bio)
    ossl.SSL_set0_rbio(ssl, bio)
    ossl.BIO_up_ref(bio)
    ossl.SSL_set0_wbio(ssl, bio)
    return bio


cdef inline CipherBuffers *cipher_buffers(void *bio) noexcept:
    return <CipherBuffers *>ossl.BIO_get_data(bio)


cdef int release_cipher_bio(void *bio) except -1:
    ossl.BIO_free(bio)
    return 0


cdef char *incoming_space(CipherBuffers *bufs,
                          Py_ssize_t wanted) except NULL:
    """Room for wanted more bytes of ciphertext after what is unread,
    moving the unread bytes to the front first.  The buffer grows only
    while the application leaves ciphertext unread (up to its read
    limit), at least doubling so that a pile of it is copied few times."""
    cdef Py_ssize_t unread = bufs.in_end - bufs.in_start
    cdef Py_ssize_t new_size
    cdef char *grown
    if bufs.in_start:
        memmove(bufs.incoming, bufs.incoming + bufs.in_start, unread)
        bufs.in_start = 0
        bufs.in_end = unread
    if bufs.in_size - unread < wanted:
        new_size = max(unread + wanted, 2 * bufs.in_size)
        grown = <char *>realloc(bufs.incoming, new_size)
        if grown == NULL:
            raise MemoryError()
        bufs.incoming = grown
        bufs.in_size = new_size
    return bufs.incoming + unread
