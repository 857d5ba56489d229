/* Streaming vector stores, prepended to the elementwise programs (elemwise.cl, fused.cl) by
 * clnet.ops.mapping.prelude. STORE_VEC(v, p) writes *p = v; in a program built with
 * STREAM 1 (clnet.ops.mapping.stream: on CPUs, for launches moving more bytes than the
 * last-level cache holds, so nothing they write could stay there for the next kernel) as a
 * non-temporal store, which neither reads the line first nor keeps it in the caches.
 * STREAM is a define of the rendered template, read when STORE_VEC expands.
 * NOTE: pocl, 2-core EPYC (32 MiB L3), tanh(a*b+a) on 4M float32 (48 MB per call, one fused
 * kernel): 39-52 -> 54-57 GB/s through a bound executor, 36-42 -> 45-47 imperative. A
 * run-time flag choosing between the two stores gained nothing: the compiler merged them
 * into one plain store. Compilers without the builtin store plainly. */
#define STORE_VEC(v, p) STORE_VEC_(STREAM, v, p)
#define STORE_VEC_(s, v, p) STORE_VEC__(s, v, p)
#define STORE_VEC__(s, v, p) STORE_VEC_##s(v, p)
#define STORE_VEC_0(v, p) (*(p) = (v))
#if defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store)
#define STORE_VEC_1(v, p) __builtin_nontemporal_store((v), (p))
#endif
#endif
#ifndef STORE_VEC_1
#define STORE_VEC_1(v, p) (*(p) = (v))
#endif
