/* Sorting along one axis: a bitonic sort of (key, index) pairs in global memory, and the
 * gathers that write the results of sort, argsort and topk.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         element type: the keys of the sorting kernels, the output of sort_indices
 *   IS_FLOAT  1 when T is floating point: NaN orders after every number, as in numpy
 *   SUFFIX    kernel-name suffix: the dtype, e.g. f32
 *   G         pairs each sort_block work-item holds in registers (a power of two, 4..64)
 *
 * Layout: the data is dense (pre, n, post) from element `off` and is sorted along n; row
 * r = pre_i * post + post_i is one line along the axis. Work buffers `keys` (T) and `idx`
 * (int) hold rows x p pairs, p = n rounded up to a power of two, rounded up to a multiple of
 * G (the tail is scratch). Positions >= n are padding, placed last by an index guard rather
 * than by sentinel keys, so every value (NaN, the type's extremes) sorts correctly. Ties in
 * key order by index, so the order is total and the result equals a stable sort. `asc` = 0
 * sorts descending (NaN first). Sizes are long arguments.
 *
 * Kernels, 1-D launches, global size rounded up and guarded by `total`. No local memory: on
 * pocl a barrier inside loops costs seconds of compile time per program.
 *   sort_init_SUFFIX     rows*p work-items: gather keys from the data, idx = position
 *   sort_block_SUFFIX    pairs/G work-items, each on G pairs spaced s apart (s a power of
 *                        two): every compare-exchange pass of stages k_lo..k_hi whose
 *                        distance j is in [s, j_top] (j_top < s*G); log2(G) passes of the
 *                        network per trip through memory
 *   sort_values_SUFFIX   rows*kk work-items: out[pre, j, post] = keys[row, j], j < kk
 *   sort_indices_SUFFIX  rows*kk work-items: out[pre, j, post] = (T)idx[row, j], j < kk
 *   sort_mask_SUFFIX     rows*n work-items: out[pre, idx[row, j], post] = (j < kk)
 */
#ifndef T
#define T float
#define IS_FLOAT 1
#define SUFFIX f32
#endif
#ifndef G
#define G 16
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

/* NOTE: pocl compiles isnan() and min() to calls that block unrolling; x != x is the NaN
   test and min is spelled out. */
inline int KN(key_less)(const T a, const T b)
{
#if IS_FLOAT
    return a < b || (b != b && a == a);
#else
    return a < b;
#endif
}

/* Whether (ka, ia) goes before (kb, ib) in the final order (branch-free). */
inline int KN(before)(const T ka, const int ia, const T kb, const int ib, const int n,
                      const int asc)
{
    const int lt = KN(key_less)(ka, kb), gt = KN(key_less)(kb, ka);
    return (ia < n) & ((ib >= n) | (asc ? lt : gt) | (!lt & !gt & (ia < ib)));
}

__kernel void KN(sort_init)(__global const T *src, const long off, const int n,
    const long post, const long p, const long total, __global T *keys, __global int *idx)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long row = t / p;
    const long j = t - row * p;
    const long pre = row / post;
    const long q = row - pre * post;
    keys[t] = j < n ? src[off + (pre * n + j) * post + q] : (T)0;
    idx[t] = (int)j;
}

/* One network pass of distance d*s over the G pairs held in kv/iv: compile-time distances
   and indices keep the pairs in registers. */
#define SORT_PASS(d) \
    if ((d) * s <= jt) { \
        _Pragma("unroll") \
        for (int u = 0; u < G / 2; ++u) { \
            const int a = ((u & ~((d) - 1)) << 1) | (u & ((d) - 1)); \
            const int b = a + (d); \
            const T ka = kv[a], kb = kv[b]; \
            const int ia = iv[a], ib = iv[b]; \
            const int sw = ((base + a * s) & km) == 0 ? KN(before)(kb, ib, ka, ia, n, asc) \
                                                      : KN(before)(ka, ia, kb, ib, n, asc); \
            kv[a] = sw ? kb : ka; \
            kv[b] = sw ? ka : kb; \
            iv[a] = sw ? ib : ia; \
            iv[b] = sw ? ia : ib; \
        } \
    }

__kernel void KN(sort_block)(__global T *keys, __global int *idx, const int n, const long p,
    const long k_lo, const long k_hi, const long j_top, const long s, const int asc,
    const long total)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    /* the pairs at base + c*s, c < G: position bits log2(s)..log2(s*G)-1 are c */
    const long lo = t & (s - 1);
    const long base = (t - lo) * G + lo;
    T kv[G];
    int iv[G];
    for (int c = 0; c < G; ++c) {
        kv[c] = keys[base + c * s];
        iv[c] = idx[base + c * s];
    }
    for (long k = k_lo; k <= k_hi; k <<= 1) {
        const long km = k & (p - 1);  /* 0 in the last stage: all of a row ascends */
        const long jt = (k >> 1) < j_top ? (k >> 1) : j_top;
#if G >= 64
        SORT_PASS(32)
#endif
#if G >= 32
        SORT_PASS(16)
#endif
#if G >= 16
        SORT_PASS(8)
#endif
#if G >= 8
        SORT_PASS(4)
#endif
#if G >= 4
        SORT_PASS(2)
#endif
        SORT_PASS(1)
    }
    for (int c = 0; c < G; ++c) {
        keys[base + c * s] = kv[c];
        idx[base + c * s] = iv[c];
    }
}

__kernel void KN(sort_values)(__global const T *keys, const long p, const long kk,
    const long post, const long total, __global T *out, const long out_off)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long row = t / kk;
    const long j = t - row * kk;
    const long pre = row / post;
    const long q = row - pre * post;
    out[out_off + (pre * kk + j) * post + q] = keys[row * p + j];
}

__kernel void KN(sort_indices)(__global const int *idx, const long p, const long kk,
    const long post, const long total, __global T *out, const long out_off)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long row = t / kk;
    const long j = t - row * kk;
    const long pre = row / post;
    const long q = row - pre * post;
    out[out_off + (pre * kk + j) * post + q] = (T)idx[row * p + j];
}

__kernel void KN(sort_mask)(__global const int *idx, const int n, const long p, const long kk,
    const long post, const long total, __global T *out, const long out_off)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long row = t / n;
    const long j = t - row * n;
    const long pre = row / post;
    const long q = row - pre * post;
    out[out_off + (pre * n + idx[row * p + j]) * post + q] = j < kk ? (T)1 : (T)0;
}
