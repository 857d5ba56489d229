/* Elementwise map over up to three inputs, with numpy broadcasting and arbitrary strides.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   TO          output element type
 *   TA..TD      input element types (the first NIN are used)
 *   CT          compute type: the inputs are converted to it (float for half)
 *   NIN         number of array inputs, 0..4
 *   EXPR        expression over x, y, z, w (the inputs, as CT), s, t (scalar arguments, CT)
 *   SUFFIX      kernel-name suffix: op and dtype, e.g. sigmoid_f32
 *   STREAM      1: ew_vec stores streaming (kernels/stream.cl), 0: plainly
 *   VEC         elements per work-item in the contiguous kernel
 *   VW          (optional) vector width of ew_vec; defined only when every operand has type CT
 *               and EXPR is valid on vectors (no comparisons or ternaries)
 * Programs start with kernels/stream.cl (STORE_VEC), and float programs with
 * kernels/fastmath.cl, whose faster tanh, sin, cos and pow replace the builtins EXPR calls
 * (clnet.ops.mapping.prelude).
 * Kernels, 1-D launch, n passed as long, global size rounded up (guarded by i < n):
 *   ew_contig_SUFFIX   every operand contiguous from its offset
 *   ew_vec_SUFFIX      the same, one VW-wide vector per work-item through cast vector
 *                      pointers from element `head` on, where every operand is VW-aligned
 *                      (its offsets agree modulo VW); nvec vectors, then work-item nvec does
 *                      the head and tail elements; n counts elements, global size >= nvec + 1;
 *                      with STREAM 1 the vectors are stored streaming (stream.cl)
 *   ew_grid_SUFFIX     up to 3 dims as a 3-D launch (dim 0 innermost = global id 0), strides as
 *                      scalar arguments: no index division at all
 *   ew_strided_SUFFIX  operands given by ndim <= 8 dims (shape, strides in elements; stride 0
 *                      broadcasts, negative strides walk backwards), innermost dim first in
 *                      the long8 arguments
 */
#ifndef TO
#define TO float
#define TA float
#define TB float
#define TC float
#define TD float
#define CT float
#define NIN 2
#define EXPR (x + y)
#define SUFFIX test
#define VEC 4
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

__kernel void KN(ew_contig)(const long n, __global TO *out, const long out_off
#if NIN >= 1
    , __global const TA *a, const long a_off
#endif
#if NIN >= 2
    , __global const TB *b, const long b_off
#endif
#if NIN >= 3
    , __global const TC *c, const long c_off
#endif
#if NIN >= 4
    , __global const TD *d, const long d_off
#endif
    , const CT s, const CT t)
{
    const long start = (long)get_global_id(0) * VEC;
    const long stop = min(start + VEC, n);
    for (long i = start; i < stop; ++i) {
#if NIN >= 1
        const CT x = (CT)a[a_off + i];
#endif
#if NIN >= 2
        const CT y = (CT)b[b_off + i];
#endif
#if NIN >= 3
        const CT z = (CT)c[c_off + i];
#endif
#if NIN >= 4
        const CT w = (CT)d[d_off + i];
#endif
        out[out_off + i] = (TO)(EXPR);
    }
}

#ifdef VW
#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
#define VT VCAT(CT, VW)
#define VPTR(p, off) ((__global VT *)(p + off + head))
#define CVPTR(p, off) ((__global const VT *)(p + off + head))

/* Input parameters and their names, to pass them on. */
#if NIN == 0
#define IN_PARAMS
#define IN_ARGS
#elif NIN == 1
#define IN_PARAMS , __global const TA *a, const long a_off
#define IN_ARGS , a, a_off
#elif NIN == 2
#define IN_PARAMS , __global const TA *a, const long a_off, __global const TB *b, const long b_off
#define IN_ARGS , a, a_off, b, b_off
#elif NIN == 3
#define IN_PARAMS , __global const TA *a, const long a_off, __global const TB *b,             \
                  const long b_off, __global const TC *c, const long c_off
#define IN_ARGS , a, a_off, b, b_off, c, c_off
#else
#define IN_PARAMS , __global const TA *a, const long a_off, __global const TB *b,             \
                  const long b_off, __global const TC *c, const long c_off,                   \
                  __global const TD *d, const long d_off
#define IN_ARGS , a, a_off, b, b_off, c, c_off, d, d_off
#endif

/* The scalar rest of ew_vec: elements [0, head) and [head + nvec * VW, n). NOTE: pocl:
 * inlined into ew_vec, this loop costs the vectors ~12% of their speed; as a call, nothing. */
__attribute__((noinline)) void KN(ew_rest)(const long nvec, const long head, const long n,
    __global TO *out, const long out_off IN_PARAMS, const CT s, const CT t)
{
    for (long i = 0; i < n; ++i) {
        if (i == head) i += nvec * VW;
        if (i >= n) break;
#if NIN >= 1
        const CT x = (CT)a[a_off + i];
#endif
#if NIN >= 2
        const CT y = (CT)b[b_off + i];
#endif
#if NIN >= 3
        const CT z = (CT)c[c_off + i];
#endif
#if NIN >= 4
        const CT w = (CT)d[d_off + i];
#endif
        out[out_off + i] = (TO)(EXPR);
    }
}

/* Work-item g < nvec: vector g of every operand, VW elements from element head + g * VW, read
 * and written through cast vector pointers (NOTE: pocl: vload/vstore and fma() compile to
 * slow calls; a cast pointer does not), stored streaming in STREAM programs (see
 * kernels/stream.cl). Work-item nvec: the scalar rest. */
__kernel void KN(ew_vec)(const long nvec, const long head, const long n,
    __global TO *out, const long out_off IN_PARAMS, const CT s, const CT t)
{
    const long g = get_global_id(0);
    if (g < nvec) {
#if NIN >= 1
        const VT x = CVPTR(a, a_off)[g];
#endif
#if NIN >= 2
        const VT y = CVPTR(b, b_off)[g];
#endif
#if NIN >= 3
        const VT z = CVPTR(c, c_off)[g];
#endif
#if NIN >= 4
        const VT w = CVPTR(d, d_off)[g];
#endif
        STORE_VEC(EXPR, VPTR(out, out_off) + g);
    } else if (g == nvec) {
        KN(ew_rest)(nvec, head, n, out, out_off IN_ARGS, s, t);
    }
}
#endif

#define GRID_OPERAND(T_, p) , __global T_ *p, const long p##_off, const long p##_s0, \
                                const long p##_s1, const long p##_s2
#define GRID_INDEX(p) (p##_off + i0 * p##_s0 + i1 * p##_s1 + i2 * p##_s2)

__kernel void KN(ew_grid)(const long n0, const long n1, const long n2
    GRID_OPERAND(TO, out)
#if NIN >= 1
    GRID_OPERAND(const TA, a)
#endif
#if NIN >= 2
    GRID_OPERAND(const TB, b)
#endif
#if NIN >= 3
    GRID_OPERAND(const TC, c)
#endif
#if NIN >= 4
    GRID_OPERAND(const TD, d)
#endif
    , const CT s, const CT t)
{
    const long i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
    if (i0 >= n0 || i1 >= n1 || i2 >= n2) return;
    const long i = i0 + n0 * (i1 + n1 * i2);
#if NIN >= 1
    const CT x = (CT)a[GRID_INDEX(a)];
#endif
#if NIN >= 2
    const CT y = (CT)b[GRID_INDEX(b)];
#endif
#if NIN >= 3
    const CT z = (CT)c[GRID_INDEX(c)];
#endif
#if NIN >= 4
    const CT w = (CT)d[GRID_INDEX(d)];
#endif
    out[GRID_INDEX(out)] = (TO)(EXPR);
}

/* One dim of the index walk, innermost first: dims are stored innermost-first in the long8
 * arguments and unrolled by component, since private arrays indexed at run time cost ~30x on
 * pocl. */
#define STEP_(k, ACC) if (k < ndim) { const long idx = rem % shape.s##k; rem /= shape.s##k; ACC(k) }
#if NIN == 0
#define ACCUM(k) oi += idx * out_st.s##k;
#elif NIN == 1
#define ACCUM(k) oi += idx * out_st.s##k; ai += idx * a_st.s##k;
#elif NIN == 2
#define ACCUM(k) oi += idx * out_st.s##k; ai += idx * a_st.s##k; bi += idx * b_st.s##k;
#elif NIN == 3
#define ACCUM(k) oi += idx * out_st.s##k; ai += idx * a_st.s##k; bi += idx * b_st.s##k; \
                 ci += idx * c_st.s##k;
#else
#define ACCUM(k) oi += idx * out_st.s##k; ai += idx * a_st.s##k; bi += idx * b_st.s##k; \
                 ci += idx * c_st.s##k; di += idx * d_st.s##k;
#endif

__kernel void KN(ew_strided)(const long n, const int ndim, const long8 shape,
    __global TO *out, const long out_off, const long8 out_st
#if NIN >= 1
    , __global const TA *a, const long a_off, const long8 a_st
#endif
#if NIN >= 2
    , __global const TB *b, const long b_off, const long8 b_st
#endif
#if NIN >= 3
    , __global const TC *c, const long c_off, const long8 c_st
#endif
#if NIN >= 4
    , __global const TD *d, const long d_off, const long8 d_st
#endif
    , const CT s, const CT t)
{
    const long i = get_global_id(0);
    if (i >= n) return;
    long rem = i, oi = out_off;
#if NIN >= 1
    long ai = a_off;
#endif
#if NIN >= 2
    long bi = b_off;
#endif
#if NIN >= 3
    long ci = c_off;
#endif
#if NIN >= 4
    long di = d_off;
#endif
    STEP_(0, ACCUM) STEP_(1, ACCUM) STEP_(2, ACCUM) STEP_(3, ACCUM)
    STEP_(4, ACCUM) STEP_(5, ACCUM) STEP_(6, ACCUM) STEP_(7, ACCUM)
#if NIN >= 1
    const CT x = (CT)a[ai];
#endif
#if NIN >= 2
    const CT y = (CT)b[bi];
#endif
#if NIN >= 3
    const CT z = (CT)c[ci];
#endif
#if NIN >= 4
    const CT w = (CT)d[di];
#endif
    out[oi] = (TO)(EXPR);
}
