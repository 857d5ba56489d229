/* Sorting along one axis: a bitonic sort of (key, index) pairs in global memory, and the
 * gathers that write the results of sort, argsort and topk.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         element type of the data (the keys)
 *   TI        element type of the index output (the ops' `dtype` param)
 *   IS_FLOAT  1 when T is floating point: NaN orders after every number, as in numpy
 *   SUFFIX    kernel-name suffix: data and index dtypes, e.g. f32_f32
 *
 * Layout: the data is dense (pre, n, post) from element `off` and is sorted along n; row
 * r = pre_i * post + post_i is one line along the axis. Work buffers `keys` (T) and `idx`
 * (int) hold rows x p, p = n rounded up to a power of two. Positions >= n are padding, placed
 * last by an index guard rather than by sentinel keys, so every value (NaN, the type's
 * extremes) sorts correctly. Ties in key order by index, so the order is total and the result
 * equals a stable sort. `asc` = 0 sorts descending (NaN first). Every size is a long argument.
 *
 * Kernels, 1-D launches, global size rounded up (guarded by `total`):
 *   sort_init_SUFFIX     rows*p work-items: gather keys from the data, idx = position
 *   sort_global_SUFFIX   rows*p/2 work-items: one compare-exchange pass (stage k, distance j)
 *   sort_local_SUFFIX    rows*p/2 work-items in groups of w (2w <= p, exact launch): stages
 *                        k_lo..k_hi, the passes of distance < 2w, in local memory (2w keys
 *                        and 2w ints passed as __local arguments)
 *   sort_values_SUFFIX   rows*kk work-items: out[pre, j, post] = keys[row, j], j < kk
 *   sort_indices_SUFFIX  rows*kk work-items: out[pre, j, post] = (TI)idx[row, j], j < kk
 *   sort_mask_SUFFIX     rows*n work-items: out[pre, idx[row, j], post] = (j < kk)
 */
#ifndef T
#define T float
#define TI float
#define IS_FLOAT 1
#define SUFFIX f32_f32
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

inline int KN(key_less)(const T a, const T b)
{
#if IS_FLOAT
    return a < b || (isnan(b) && !isnan(a));
#else
    return a < b;
#endif
}

/* Whether (ka, ia) goes before (kb, ib) in the final order. */
inline int KN(before)(const T ka, const int ia, const T kb, const int ib, const int n,
                      const int asc)
{
    if (ia >= n) return 0;
    if (ib >= n) return 1;
    if (KN(key_less)(ka, kb)) return asc;
    if (KN(key_less)(kb, ka)) return !asc;
    return ia < ib;
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

__kernel void KN(sort_global)(__global T *keys, __global int *idx, const int n, const long p,
    const long k, const long j, const int asc, const long total)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long hp = p >> 1;
    const long row = t / hp;
    const long tt = t - row * hp;
    const long low = tt & (j - 1);
    const long i = ((tt - low) << 1) | low;
    const long a = row * p + i;
    const long b = a + j;
    const T ka = keys[a], kb = keys[b];
    const int ia = idx[a], ib = idx[b];
    const int swap = (i & k) == 0 ? KN(before)(kb, ib, ka, ia, n, asc)
                                  : KN(before)(ka, ia, kb, ib, n, asc);
    if (swap) {
        keys[a] = kb;
        keys[b] = ka;
        idx[a] = ib;
        idx[b] = ia;
    }
}

__kernel void KN(sort_local)(__global T *keys, __global int *idx, const int n, const long p,
    const long k_lo, const long k_hi, const int asc, __local T *lk, __local int *li)
{
    const long w = get_local_size(0);
    const long lid = get_local_id(0);
    const long base = (long)get_group_id(0) * 2 * w;
    const long pos0 = base % p;
    lk[lid] = keys[base + lid];
    lk[lid + w] = keys[base + lid + w];
    li[lid] = idx[base + lid];
    li[lid + w] = idx[base + lid + w];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (long k = k_lo; k <= k_hi; k <<= 1) {
        for (long j = min(k, 2 * w) >> 1; j > 0; j >>= 1) {
            const long low = lid & (j - 1);
            const long i = ((lid - low) << 1) | low;
            const long l = i + j;
            const T ka = lk[i], kb = lk[l];
            const int ia = li[i], ib = li[l];
            const int swap = ((pos0 + i) & k) == 0 ? KN(before)(kb, ib, ka, ia, n, asc)
                                                   : KN(before)(ka, ia, kb, ib, n, asc);
            if (swap) {
                lk[i] = kb;
                lk[l] = ka;
                li[i] = ib;
                li[l] = ia;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    keys[base + lid] = lk[lid];
    keys[base + lid + w] = lk[lid + w];
    idx[base + lid] = li[lid];
    idx[base + lid + w] = li[lid + w];
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
    const long post, const long total, __global TI *out, const long out_off)
{
    const long t = get_global_id(0);
    if (t >= total) return;
    const long row = t / kk;
    const long j = t - row * kk;
    const long pre = row / post;
    const long q = row - pre * post;
    out[out_off + (pre * kk + j) * post + q] = (TI)idx[row * p + j];
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
