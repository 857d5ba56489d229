/* Reductions and softmax over an (outer, len, inner) view of a dense array: element
 * (o, r, i) is at in[in_off + (o * len + r) * inner + i]; output (o, i) at out[out_off +
 * o * inner + i]. A program holds one family of kernels, chosen by the PART_* defines: the
 * op is a compile-time constant handed to always-inline bodies, so each kernel is
 * specialised without extra defines.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T, T8           element type and its 8-vector
 *   AT, AT8         accumulator type (float for half, else T) and its 8-vector
 *   SUFFIX          dtype suffix of the kernel names, e.g. f32
 *   T_LOWEST        identity of max (-INFINITY for floats, the type's minimum for integers)
 *   T_HIGHEST       identity of min
 *   IS_FLOAT        1 for floating types: enables norm, softmax and the NaN-aware paths
 *   WIDEN           1 when AT is wider than T (half)
 *   GROUP_ROWS      1: also the reduce_group_<op> kernels (GPUs), GROUP work-items each
 *   PART_<OP>       1 for the families the program holds (0 or undefined: left out): PART_SUM
 *                   .. PART_L2 the reduce_*<op> and combine_<op> kernels of one op, PART_ARG
 *                   the arg kernels, PART_SOFTMAX softmax. NOTE: pocl, float32: every family
 *                   in one program built in 2.4-2.7 s; one family builds in 0.3 s, and the
 *                   first training step of an MLP needs two (sum, softmax)
 *
 * Kernels, 2-D launch: dimension 0 walks inner (padded, guarded by i < inner), dimension 1
 * walks outer * nchunks (padded, guarded); len is split into nchunks chunks of `chunk`:
 *   reduce_<op>_SUFFIX   op in sum prod max min, and for floats nansum nanprod l1 l2
 *                        (integers have no NaN; norms are float-only): reduces chunk g of
 *                        row (o, i); with nchunks == 1 writes finish(acc) to out (as T),
 *                        else the accumulator to part[(o * nchunks + g) * inner + i] (AT)
 *   reduce_group_<op>_SUFFIX   only when GROUP_ROWS: the same for contiguous rows, one
 *                        work-group per chunk (see reduce_group_body)
 *   combine_<op>_SUFFIX  only when WIDEN, op in sum prod max min: reduces part over the
 *                        nchunks axis, writes finish(acc) to out; otherwise (AT == T) the
 *                        partials are reduced by reduce_<op> itself
 *   reduce_arg<op>_SUFFIX, combine_arg<op>_SUFFIX   op in max min: the same for the index of
 *                        the first extreme (first NaN wins, as numpy); partials are value +
 *                        long index; the index is written as T (MXNet's argmax dtype)
 *   softmax_SUFFIX       dimension 1 walks outer only; y = scale * x, out = exp(y - max) / sum
 *                        (mode 0) or y - max - log(sum) (mode 1)
 * finish: post 0 keeps acc, 1 divides by count (mean), 2 takes sqrt (l2 norm).
 * Contiguous rows (inner == 1) are read as T8 through a cast pointer after a scalar head that
 * aligns the address, with two vector accumulators.
 */
#ifndef T
#define T float
#define T8 float8
#define AT float
#define AT8 float8
#define SUFFIX f32
#define T_LOWEST (-INFINITY)
#define T_HIGHEST INFINITY
#define IS_FLOAT 1
#define WIDEN 0
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)
#define CONV_(t) convert_##t
#define CONV(t) CONV_(t)
/* NOTE: pocl warns that convert_double8/long8 pass a vector by value (an ABI change without
 * AVX-512), so the T8 -> AT8 conversion is only written where the types differ. */
#if WIDEN
#define WIDEN8(x) CONV(AT8)(x)
#else
#define WIDEN8(x) (x)
#endif
#define INLINE static inline __attribute__((always_inline))
#define BLOCK 256 /* vectors per block of the contiguous loop (even) */

#define OP_SUM 0
#define OP_NANSUM 1
#define OP_PROD 2
#define OP_NANPROD 3
#define OP_MAX 4
#define OP_MIN 5
#define OP_L1 6
#define OP_L2 7

/* NaN handling only where NaN exists: integer types get the plain forms.
 * NOTE: pocl 3 (LLVM 14) on x86 without AVX-512: a program calling fabs() on a double8
 * builds, but loads from pocl's kernel cache with no kernels at all; ABS is a select. */
#define ABS(x, V) ((x) < (V)0 ? -(x) : (x))
#if IS_FLOAT
#define UNLESS_NAN(x, alt) ((x) == (x) ? (x) : (alt))
#define NAN_OR(a, c) ((a) != (a) || (c))
#else
#define UNLESS_NAN(x, alt) (x)
#define NAN_OR(a, c) (c)
#endif

/* MAP: what an element contributes; COMB: how contributions merge (NaN-propagating max and
 * min, as numpy). Macros rather than functions so they serve scalars and 8-vectors alike and
 * no vector is passed by value (pocl warns that this changes the ABI without AVX-512); `op`
 * is a constant, so the selection folds away. Arguments are plain variables. */
#define MAP(op, x, V) ((op) == OP_NANSUM ? UNLESS_NAN(x, (V)0)                       \
    : (op) == OP_NANPROD ? UNLESS_NAN(x, (V)1) : (op) == OP_L1 ? ABS(x, V)            \
    : (op) == OP_L2 ? (x) * (x) : (x))
#define COMB(op, a, b) ((op) == OP_PROD || (op) == OP_NANPROD ? (a) * (b)               \
    : (op) == OP_MAX ? (NAN_OR(a, (a) >= (b)) ? (a) : (b))                              \
    : (op) == OP_MIN ? (NAN_OR(a, (a) <= (b)) ? (a) : (b)) : (a) + (b))

INLINE AT comb1(const int op, const AT a, const AT b) { return COMB(op, a, b); }
INLINE AT map1(const int op, const AT x) { return MAP(op, x, AT); }

INLINE AT ident(const int op) {
    switch (op) {
    case OP_PROD: case OP_NANPROD: return (AT)1;
    case OP_MAX: return (AT)(T_LOWEST);
    case OP_MIN: return (AT)(T_HIGHEST);
    default: return (AT)0;
    }
}

INLINE AT finish(const int post, const AT acc, const long count) {
#if IS_FLOAT
    if (post == 1) return acc / (AT)count;
    if (post == 2) return sqrt(acc);
#else
    if (post == 1) return count ? acc / (AT)count : (AT)0;
#endif
    return acc;
}

/* Reduce p[r0:r1] (contiguous): scalar head up to a T8-aligned address, T8 body in blocks
 * with two accumulators, pairwise fold of the lanes, scalar tail. */
INLINE AT reduce_contig(const int op, __global const T *p, const long r0, const long r1) {
    const long mis = (long)(((size_t)(p + r0) % sizeof(T8)) / sizeof(T));
    const long h = min(r1, r0 + (mis ? 8 - mis : 0));
    AT acc = ident(op);
    for (long r = r0; r < h; ++r) acc = comb1(op, acc, map1(op, (AT)p[r]));
    const long nv = (r1 - h) / 8;
    __global const T8 *v = (__global const T8 *)(p + h);
    AT8 a0 = (AT8)(ident(op)), a1 = a0;
    long k = 0;
    while (k + 2 <= nv) {
        /* blocks of BLOCK vectors summed apart keep float sums' rounding error growing with
         * the block and block count rather than the row length */
        const long stop = min(k + BLOCK, nv - (nv & 1));
        AT8 b0 = (AT8)(ident(op)), b1 = b0;
        for (; k < stop; k += 2) {
            const AT8 x0 = WIDEN8(v[k]), x1 = WIDEN8(v[k + 1]);
            const AT8 m0 = MAP(op, x0, AT8), m1 = MAP(op, x1, AT8);
            b0 = COMB(op, b0, m0);
            b1 = COMB(op, b1, m1);
        }
        a0 = COMB(op, a0, b0);
        a1 = COMB(op, a1, b1);
    }
    if (k < nv) {
        const AT8 x0 = WIDEN8(v[k]), m0 = MAP(op, x0, AT8);
        a0 = COMB(op, a0, m0);
    }
    a0 = COMB(op, a0, a1);
    const AT f0 = comb1(op, a0.s0, a0.s1), f1 = comb1(op, a0.s2, a0.s3);
    const AT f2 = comb1(op, a0.s4, a0.s5), f3 = comb1(op, a0.s6, a0.s7);
    acc = comb1(op, acc, comb1(op, comb1(op, f0, f1), comb1(op, f2, f3)));
    for (long r = h + nv * 8; r < r1; ++r) acc = comb1(op, acc, map1(op, (AT)p[r]));
    return acc;
}

#define REDUCE_ARGS __global const T *in, const long in_off, __global T *out,          \
    const long out_off, __global AT *part, const long outer, const long len,            \
    const long inner, const long nchunks, const long chunk, const int post,             \
    const long count
#define REDUCE_PASS in, in_off, out, out_off, part, outer, len, inner, nchunks, chunk,  \
    post, count

INLINE void reduce_body(const int op, REDUCE_ARGS) {
    const long i = get_global_id(0), og = get_global_id(1);
    if (i >= inner || og >= outer * nchunks) return;
    const long o = og / nchunks, g = og - o * nchunks;
    const long r0 = g * chunk, r1 = min(r0 + chunk, len);
    AT acc;
    if (inner == 1) {
        acc = reduce_contig(op, in + in_off + o * len, r0, r1);
    } else {
        __global const T *p = in + in_off + o * len * inner + i;
        acc = ident(op);
        for (long r = r0; r < r1; ++r) acc = comb1(op, acc, map1(op, (AT)p[r * inner]));
    }
    if (nchunks == 1)
        out[out_off + o * inner + i] = (T)finish(post, acc, count);
    else
        part[og * inner + i] = acc;
}

/* Columns as T8 vectors (inner > 1): work-item i8 reduces columns 8 i8 .. 8 i8 + 7, reading
 * one T8 per row, so the rows are read in whole vectors where reduce_body's inner > 1 loop
 * reads one element per work-item with a stride. The host uses it when inner is a multiple
 * of 8 and in_off too (T8-aligned rows). */
#define STORE8(dst, base, acc, conv)                                                   \
    dst[(base) + 0] = conv(acc.s0); dst[(base) + 1] = conv(acc.s1);                     \
    dst[(base) + 2] = conv(acc.s2); dst[(base) + 3] = conv(acc.s3);                     \
    dst[(base) + 4] = conv(acc.s4); dst[(base) + 5] = conv(acc.s5);                     \
    dst[(base) + 6] = conv(acc.s6); dst[(base) + 7] = conv(acc.s7)
#define FINISH_T(v) ((T)finish(post, (v), count))
#define AS_AT(v) (v)

INLINE void reduce_cols8_body(const int op, REDUCE_ARGS) {
    const long i8 = get_global_id(0), og = get_global_id(1);
    if (i8 * 8 >= inner || og >= outer * nchunks) return;
    const long o = og / nchunks, g = og - o * nchunks;
    const long r0 = g * chunk, r1 = min(r0 + chunk, len), stride = inner / 8;
    __global const T8 *p = (__global const T8 *)(in + in_off + o * len * inner) + i8;
    AT8 acc = (AT8)(ident(op));
    for (long r = r0; r < r1; ++r) {
        const AT8 x = WIDEN8(p[r * stride]), m = MAP(op, x, AT8);
        acc = COMB(op, acc, m);
    }
    if (nchunks == 1) {
        STORE8(out, out_off + o * inner + i8 * 8, acc, FINISH_T);
    } else {
        STORE8(part, og * inner + i8 * 8, acc, AS_AT);
    }
}

/* Contiguous rows on GPUs (defined when GROUP_ROWS): one work-group of GROUP work-items per
 * chunk, work-item l reading elements r0 + l, r0 + l + GROUP, ..., so each step of the group
 * is one coalesced stretch of memory (reduce_contig's long per-item runs are the CPU's
 * pattern), then a tree in local memory. Launch: (GROUP * nchunks, outer), local (GROUP, 1);
 * inner is 1 and chunk a multiple of GROUP. */
#if GROUP_ROWS
INLINE void reduce_group_body(const int op, REDUCE_ARGS, __local AT *tree) {
    const int l = get_local_id(0);
    const long g = get_group_id(0), o = get_global_id(1);
    const long r1 = min((g + 1) * chunk, len);
    __global const T *p = in + in_off + o * len;
    AT a0 = ident(op), a1 = a0;
    long r = g * chunk + l;
    for (; r + GROUP < r1; r += 2 * GROUP) {  /* two loads in flight per work-item */
        a0 = comb1(op, a0, map1(op, (AT)p[r]));
        a1 = comb1(op, a1, map1(op, (AT)p[r + GROUP]));
    }
    if (r < r1) a0 = comb1(op, a0, map1(op, (AT)p[r]));
    tree[l] = comb1(op, a0, a1);
    for (int s = GROUP / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (l < s) tree[l] = comb1(op, tree[l], tree[l + s]);
    }
    if (l == 0) {
        if (nchunks == 1)
            out[out_off + o] = (T)finish(post, tree[0], count);
        else
            part[o * nchunks + g] = tree[0];
    }
}
/* the name arrives pasted: a bare `max` or `min` would expand as the builtin's macro */
#define REDUCE_GROUP_KERNEL(kname, op)                                                  \
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))                            \
void KN(kname)(REDUCE_ARGS) {                                            \
    __local AT tree[GROUP];                                                            \
    reduce_group_body(op, REDUCE_PASS, tree);                                          \
}
#else
#define REDUCE_GROUP_KERNEL(kname, op)
#endif

#define COMBINE_ARGS __global const AT *part, const long outer, const long nchunks,      \
    const long inner, __global T *out, const long out_off, const int post, const long count
#define COMBINE_PASS part, outer, nchunks, inner, out, out_off, post, count

INLINE void combine_body(const int op, COMBINE_ARGS) {
    const long i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    __global const AT *p = part + o * nchunks * inner + i;
    AT acc = ident(op);
    for (long g = 0; g < nchunks; ++g) acc = comb1(op, acc, p[g * inner]);
    out[out_off + o * inner + i] = (T)finish(post, acc, count);
}

/* The kernels of one op: rows, columns in vectors, work-group rows; combine (WIDEN only). */
#if WIDEN
#define COMBINE_KERNEL(name, op)                                                  \
__kernel void KN(combine_##name)(COMBINE_ARGS) { combine_body(op, COMBINE_PASS); }
#else
#define COMBINE_KERNEL(name, op)
#endif
#define REDUCE_KERNELS(name, op)                                                  \
__kernel void KN(reduce_##name)(REDUCE_ARGS) { reduce_body(op, REDUCE_PASS); }    \
__kernel void KN(reduce_cols8_##name)(REDUCE_ARGS) { reduce_cols8_body(op, REDUCE_PASS); } \
REDUCE_GROUP_KERNEL(reduce_group_##name, op)                                      \
COMBINE_KERNEL(name, op)

#if PART_SUM
REDUCE_KERNELS(sum, OP_SUM)
#endif
#if PART_PROD
REDUCE_KERNELS(prod, OP_PROD)
#endif
#if PART_MAX
REDUCE_KERNELS(max, OP_MAX)
#endif
#if PART_MIN
REDUCE_KERNELS(min, OP_MIN)
#endif
#if IS_FLOAT && PART_NANSUM
REDUCE_KERNELS(nansum, OP_NANSUM)
#endif
#if IS_FLOAT && PART_NANPROD
REDUCE_KERNELS(nanprod, OP_NANPROD)
#endif
#if IS_FLOAT && PART_L1
REDUCE_KERNELS(l1, OP_L1)
#endif
#if IS_FLOAT && PART_L2
REDUCE_KERNELS(l2, OP_L2)
#endif

/* v beats the best so far: strictly greater (less), or the first NaN. */
INLINE bool better(const int op, const AT v, const AT best) {
#if IS_FLOAT
    if (v != v) return best == best;
#endif
    return op == OP_MAX ? v > best : v < best;
}

#define ARG_ARGS __global const T *in, const long in_off, __global T *out,             \
    const long out_off, __global AT *part, __global long *part_idx, const long outer,   \
    const long len, const long inner, const long nchunks, const long chunk

INLINE void reduce_arg_body(const int op, ARG_ARGS) {
    const long i = get_global_id(0), og = get_global_id(1);
    if (i >= inner || og >= outer * nchunks) return;
    const long o = og / nchunks, g = og - o * nchunks;
    const long r0 = g * chunk, r1 = min(r0 + chunk, len);
    __global const T *p = in + in_off + o * len * inner + i;
    AT best = ident(op);
    long idx = r0;
    for (long r = r0; r < r1; ++r) {
        const AT v = (AT)p[r * inner];
        if (better(op, v, best)) {
            best = v;
            idx = r;
        }
    }
    if (nchunks == 1) {
        out[out_off + o * inner + i] = (T)idx;
    } else {
        part[og * inner + i] = best;
        part_idx[og * inner + i] = idx;
    }
}

#define ARG_COMBINE_ARGS __global const AT *part, __global const long *part_idx,         \
    const long outer, const long nchunks, const long inner, __global T *out,            \
    const long out_off

/* Chunks are visited in order, so ties keep the earlier index. */
INLINE void combine_arg_body(const int op, ARG_COMBINE_ARGS) {
    const long i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    const long base = o * nchunks * inner + i;
    AT best = part[base];
    long idx = part_idx[base];
    for (long g = 1; g < nchunks; ++g) {
        const AT v = part[base + g * inner];
        if (better(op, v, best)) {
            best = v;
            idx = part_idx[base + g * inner];
        }
    }
    out[out_off + o * inner + i] = (T)idx;
}

#if PART_ARG
__kernel void KN(reduce_argmax)(ARG_ARGS) {
    reduce_arg_body(OP_MAX, in, in_off, out, out_off, part, part_idx, outer, len, inner,
                    nchunks, chunk);
}
__kernel void KN(reduce_argmin)(ARG_ARGS) {
    reduce_arg_body(OP_MIN, in, in_off, out, out_off, part, part_idx, outer, len, inner,
                    nchunks, chunk);
}
__kernel void KN(combine_argmax)(ARG_COMBINE_ARGS) {
    combine_arg_body(OP_MAX, part, part_idx, outer, nchunks, inner, out, out_off);
}
__kernel void KN(combine_argmin)(ARG_COMBINE_ARGS) {
    combine_arg_body(OP_MIN, part, part_idx, outer, nchunks, inner, out, out_off);
}
#endif

#if IS_FLOAT && PART_SOFTMAX
/* Three passes over the row: max of y = scale * x, sum of exp(y - max) (softmax stores the
 * exponentials in out), then normalise. */
__kernel void KN(softmax)(__global const T *in, const long in_off, __global T *out,
                          const long out_off, const long outer, const long len,
                          const long inner, const AT scale, const int mode)
{
    const long i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    __global const T *p = in + in_off + o * len * inner + i;
    __global T *q = out + out_off + o * len * inner + i;
    AT m = -INFINITY;
    for (long r = 0; r < len; ++r) m = comb1(OP_MAX, m, scale * (AT)p[r * inner]);
    AT s = (AT)0;
    if (mode == 0) {
        for (long r = 0; r < len; ++r) {
            const AT e = exp(scale * (AT)p[r * inner] - m);
            s += e;
            q[r * inner] = (T)e;
        }
        const AT inv = (AT)1 / s;
        for (long r = 0; r < len; ++r) q[r * inner] = (T)((AT)q[r * inner] * inv);
    } else {
        for (long r = 0; r < len; ++r) s += exp(scale * (AT)p[r * inner] - m);
        const AT ls = log(s);
        for (long r = 0; r < len; ++r) q[r * inner] = (T)((scale * (AT)p[r * inner] - m) - ls);
    }
}
#endif
