/* LOOP_DEBUG is 1 in the debug build (make debug) and 0 in release builds,
   where every `if LOOP_DEBUG:` block is removed by the C compiler. */
#ifndef LOOP_DEBUG
#define LOOP_DEBUG 0
#endif
