# Constants of the core, each with the reason for its value.
# (Handle free lists use 250 entries, the literal in handles.pyx: enough for
# the burst of a busy iteration without holding memory after it; uvloop's
# choice too.)

cdef enum:
    # Events fetched by one epoll_wait.  libuv uses 1024; a larger batch only
    # matters past 1024 simultaneously ready fds, where one more syscall is
    # noise.
    MAX_EVENTS = 1024

    # asyncio's rule for purging cancelled timers: when more than 100 timers
    # are scheduled and more than half of them are cancelled, rebuild the
    # heap (the fraction is in compact_if_worth_it()).
    MIN_SCHEDULED_TIMERS_FOR_COMPACTION = 100

    # Longest epoll_wait when a timer is pending, in seconds: asyncio's
    # MAXIMUM_SELECT_TIMEOUT (24 hours).
    MAXIMUM_SELECT_TIMEOUT = 24 * 3600
