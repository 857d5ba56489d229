/* Elementwise map over up to three inputs, with numpy broadcasting and arbitrary strides.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   TO          output element type
 *   TA, TB, TC  input element types (the first NIN are used)
 *   CT          compute type: the inputs are converted to it (float for half)
 *   NIN         number of array inputs, 0..3
 *   EXPR        expression over x, y, z (the inputs, as CT) and s, t (scalar arguments, CT)
 *   SUFFIX      kernel-name suffix: op and dtype, e.g. sigmoid_f32
 *   VEC         elements per work-item in the contiguous kernel
 *   VW          (optional) vector width of ew_vec; defined only when every operand has type CT
 *               and EXPR is valid on vectors (no comparisons or ternaries)
 * Kernels, 1-D launch, n passed as long, global size rounded up (guarded by i < n):
 *   ew_contig_SUFFIX   every operand contiguous from its offset
 *   ew_vec_SUFFIX      the same, one VW-wide vector per work-item, loaded through a vector
 *                      pointer (offsets must be multiples of VW); n counts vectors
 *   ew_strided_SUFFIX  operands given by ndim <= 8 dims (shape, strides in elements; stride 0
 *                      broadcasts, negative strides walk backwards), dims left-aligned in long8
 */
#ifndef TO
#define TO float
#define TA float
#define TB float
#define TC float
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
        out[out_off + i] = (TO)(EXPR);
    }
}

#ifdef VW
#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
#define VT VCAT(CT, VW)

/* NOTE: pocl: vload/vstore and fma() compile to slow calls; a cast vector pointer does not. */
__kernel void KN(ew_vec)(const long n, __global VT *out, const long out_off
#if NIN >= 1
    , __global const VT *a, const long a_off
#endif
#if NIN >= 2
    , __global const VT *b, const long b_off
#endif
#if NIN >= 3
    , __global const VT *c, const long c_off
#endif
    , const CT s, const CT t)
{
    const long i = get_global_id(0);
    if (i >= n) return;
#if NIN >= 1
    const VT x = a[a_off + i];
#endif
#if NIN >= 2
    const VT y = b[b_off + i];
#endif
#if NIN >= 3
    const VT z = c[c_off + i];
#endif
    out[out_off + i] = EXPR;
}
#endif

#define UNPACK(name, v) const long name[8] = {v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7}

__kernel void KN(ew_strided)(const long n, const int ndim, const long8 shape_v,
    __global TO *out, const long out_off, const long8 out_sv
#if NIN >= 1
    , __global const TA *a, const long a_off, const long8 a_sv
#endif
#if NIN >= 2
    , __global const TB *b, const long b_off, const long8 b_sv
#endif
#if NIN >= 3
    , __global const TC *c, const long c_off, const long8 c_sv
#endif
    , const CT s, const CT t)
{
    const long i = get_global_id(0);
    if (i >= n) return;
    UNPACK(shape, shape_v);
    UNPACK(out_st, out_sv);
    long rem = i, oi = out_off;
#if NIN >= 1
    UNPACK(a_st, a_sv);
    long ai = a_off;
#endif
#if NIN >= 2
    UNPACK(b_st, b_sv);
    long bi = b_off;
#endif
#if NIN >= 3
    UNPACK(c_st, c_sv);
    long ci = c_off;
#endif
    for (int d = ndim - 1; d >= 0; --d) {
        const long idx = rem % shape[d];
        rem /= shape[d];
        oi += idx * out_st[d];
#if NIN >= 1
        ai += idx * a_st[d];
#endif
#if NIN >= 2
        bi += idx * b_st[d];
#endif
#if NIN >= 3
        ci += idx * c_st[d];
#endif
    }
#if NIN >= 1
    const CT x = (CT)a[ai];
#endif
#if NIN >= 2
    const CT y = (CT)b[bi];
#endif
#if NIN >= 3
    const CT z = (CT)c[ci];
#endif
    out[oi] = (TO)(EXPR);
}
