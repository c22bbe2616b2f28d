# What differs between the Python versions we support, decided once at import.

# 3.13 added the debug= parameter to format_helpers._format_callback_source.
cdef bint FORMAT_CALLBACK_TAKES_DEBUG = sys.version_info >= (3, 13)

# The interpreter's own create_task, used when a task factory is set so that
# factories see exactly the calling convention of this Python version.
stdlib_create_task = base_events.BaseEventLoop.create_task


cdef bint is_debug_mode():
    return coroutines._is_debug_mode()
