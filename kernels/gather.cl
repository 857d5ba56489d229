/* Gathers by index: take / pick (one kernel), one_hot, and their scatter-add backward.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T       element type: for gather and one_hot the unsigned integer of the data's width
 *           (uchar, ushort, uint, ulong), since they only move bits and one program then serves
 *           every dtype of a width; for scatter_add the real type, as it adds
 *   SUFFIX  kernel-name suffix: that type's short name, e.g. u32 or f32
 * Index arrays arrive as raw bytes plus their dtype code (MXNet's type flag: 0 float32,
 * 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64) and are converted to long on the
 * fly; floats truncate toward zero, as MXNet's static_cast does. Offsets are in elements.
 * Kernels, 2-D launch, global size exactly (inner, rows), sizes passed as long:
 *   gather_SUFFIX   out viewed as (outer, nidx, inner), data as (outer, naxis, inner); the row
 *                   id r is (o, k) = (r / nidx, r % nidx), column c; the index read is
 *                   idx[o*s_o + k*s_k + c*s_c] (take: (0, 1, 0); pick: (inner, 0, 1));
 *                   mode 0 clips it to [0, naxis), 1 wraps it (Python-style modulo)
 *   scatter_add_SUFFIX  the adjoint of gather: out (outer, naxis, inner) is zeroed, then
 *                   out[o, j(o, k, c), c] += g[o, k, c] for k in order, j read and fixed as in
 *                   gather; global size (inner, outer), one work-item per column, so no two
 *                   work-items write one element and the sums are deterministic
 *   one_hot_SUFFIX  out (rows, depth): out[r, c] = (index r == c) ? on : off;
 *                   global size (depth, rows)
 */
#ifndef T
#define T uint
#define SUFFIX u32
#endif

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

inline long load_index(__global const uchar *idx, const long pos, const int itype)
{
    switch (itype) {
    case 0: return (long)((__global const float *)idx)[pos];
#ifdef cl_khr_fp64
    case 1: return (long)((__global const double *)idx)[pos];
#endif
    case 2: return (long)vload_half(pos, (__global const half *)idx);
    case 3: return (long)idx[pos];
    case 4: return (long)((__global const int *)idx)[pos];
    case 5: return (long)((__global const char *)idx)[pos];
    default: return ((__global const long *)idx)[pos];
    }
}

/* mode 0 clips to [0, naxis), 1 wraps (Python-style modulo) */
inline long fix_index(long j, const long naxis, const int mode)
{
    if (mode == 0)
        return j < 0 ? 0 : (j >= naxis ? naxis - 1 : j);
    j %= naxis;
    return j + (j < 0 ? naxis : 0);
}

__kernel void KN(gather)(__global T *out, const long out_off,
                         __global const T *data, const long data_off,
                         __global const uchar *idx, const long idx_off, const int itype,
                         const long nidx, const long naxis, const long inner,
                         const long s_o, const long s_k, const long s_c, const int mode)
{
    const long c = get_global_id(0);
    const long r = get_global_id(1);
    const long o = r / nidx;
    const long k = r - o * nidx;
    const long j = fix_index(load_index(idx, idx_off + o * s_o + k * s_k + c * s_c, itype),
                             naxis, mode);
    out[out_off + r * inner + c] = data[data_off + (o * naxis + j) * inner + c];
}

__kernel void KN(scatter_add)(__global T *out, const long out_off,
                              __global const T *g, const long g_off,
                              __global const uchar *idx, const long idx_off, const int itype,
                              const long nidx, const long naxis, const long inner,
                              const long s_o, const long s_k, const long s_c, const int mode)
{
    const long c = get_global_id(0);
    const long o = get_global_id(1);
    __global T *col = out + out_off + o * naxis * inner + c;
    for (long j = 0; j < naxis; ++j)
        col[j * inner] = (T)0;
    __global const T *src = g + g_off + o * nidx * inner + c;
    const long base = idx_off + o * s_o + c * s_c;
    for (long k = 0; k < nidx; ++k) {
        const long j = fix_index(load_index(idx, base + k * s_k, itype), naxis, mode);
        col[j * inner] += src[k * inner];
    }
}

__kernel void KN(one_hot)(__global T *out, const long out_off,
                          __global const uchar *idx, const long idx_off, const int itype,
                          const long depth, const T on, const T off)
{
    const long c = get_global_id(0);
    const long r = get_global_id(1);
    const long j = load_index(idx, idx_off + r, itype);
    out[out_off + r * depth + c] = j == c ? on : off;
}
