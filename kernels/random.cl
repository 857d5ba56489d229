/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Random123").
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         output element type
 *   CT        compute type of float outputs: float (also for half) or double
 *   SFX       kernel-name suffix: the dtype, e.g. f32
 *   IS_FLOAT  1: the float distributions are built; 0: randint is built
 *   WIDE      1 when a float value takes two 32-bit words (CT double: 53 random bits)
 *
 * The stream: key = the 64-bit seed; counter of block b = (b lo, b hi, op lo,
 * op hi | retry << 24), op (the op counter) < 2^56. Element i of an output is lane i % EPB of
 * block i / EPB; EPB (elements per block) is 4 when a value takes one 32-bit word, 2 when it
 * takes two (double, randint). So every element is a function of (seed, op, i) alone: the
 * same on every device and launch size, and a smaller draw is a prefix of a larger one.
 * FP_CONTRACT is off so `lo + width * u` rounds the same on every device.
 *
 * Kernels, 1-D launch, 4 consecutive blocks per work-item (computed as uint4 vectors), so
 * global size >= ceil(n / (4 * EPB)), guarded; n passed as long, offsets in elements:
 *   rng_uniform_SFX(n, out, out_off, seed, op, lo, width, hi_prev)   lo + width * u, u in [0, 1)
 *       (24 or 53 random bits); results above hi_prev (the largest value < high) become hi_prev
 *   rng_normal_SFX(n, out, out_off, seed, op, loc, scale)             Box-Muller on lane pairs
 *   rng_exponential_SFX(n, out, out_off, seed, op, inv_lam)           -log(1 - u) * inv_lam
 *   rng_sample_<dist>_SFX(n, per, out, out_off, seed, op, a, a_off[, b, b_off]) the same with
 *       per-element parameters a[i / per], b[i / per] (T arrays); invalid ones give NaN
 *   rng_randint_SFX(n, out, out_off, seed, op, low, range, threshold) low + [0, range) exactly:
 *       Lemire's multiply-shift; lanes whose low product is below threshold = 2^64 mod range
 *       are redrawn from the block's retry counters 1, 2, ... (probability < range / 2^64)
 * and in every program, one work-item per element:
 *   rng_gather_rows_SFX(n, row_len, out, out_off, in, in_off, perm)  out row r = in row perm[r]
 */
#ifndef T
#define T float
#define CT float
#define SFX f32
#define IS_FLOAT 1
#define WIDE 0
#endif

#pragma OPENCL FP_CONTRACT OFF

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SFX)

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* One block. The 32x32->64 products are ulong multiplies (mul_hi is a slow call on pocl). */
inline uint4 philox(const ulong seed, const ulong op, const ulong block, const uint retry)
{
    uint4 c = (uint4)((uint)block, (uint)(block >> 32), (uint)op,
                      (uint)(op >> 32) | (retry << 24));
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        const ulong p0 = (ulong)PHILOX_M0 * c.x;
        const ulong p1 = (ulong)PHILOX_M1 * c.z;
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k1, (uint)p0);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return c;
}

/* Blocks b0 .. b0 + 3 at once: word j of block b0 + k is w[j].sk. Explicit vectors are ~4x
 * faster than one block per work-item on pocl (its implicit vectoriser gives up here). */
inline void philox4(const ulong seed, const ulong op, const ulong b0, uint4 w[4])
{
    const ulong4 blk = (ulong4)(b0) + (ulong4)(0, 1, 2, 3);
    uint4 c0 = convert_uint4(blk), c1 = convert_uint4(blk >> 32);
    uint4 c2 = (uint4)((uint)op), c3 = (uint4)((uint)(op >> 32));
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        const ulong4 p0 = convert_ulong4(c0) * (ulong4)PHILOX_M0;
        const ulong4 p1 = convert_ulong4(c2) * (ulong4)PHILOX_M1;
        const uint4 n0 = convert_uint4(p1 >> 32) ^ c1 ^ (uint4)k0;
        const uint4 n2 = convert_uint4(p0 >> 32) ^ c3 ^ (uint4)k1;
        c1 = convert_uint4(p1);
        c3 = convert_uint4(p0);
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

/* arr[j + k * stride] = v.sk: lane j of the four blocks into element order. */
#define SPLIT4(arr, stride, j, v)                                               \
    arr[(j)] = (v).s0;                                                          \
    arr[(j) + (stride)] = (v).s1;                                               \
    arr[(j) + 2 * (stride)] = (v).s2;                                           \
    arr[(j) + 3 * (stride)] = (v).s3

/* The first min(VPW, n - first) values of `vals` to out[out_off + first ...]. */
#define STORE(vals)                                                             \
    __global T *o = out + out_off + first;                                      \
    if (n - first >= VPW) {                                                     \
        for (int e = 0; e < VPW; ++e) o[e] = vals[e];                           \
    } else {                                                                    \
        for (int e = 0; e < n - first; ++e) o[e] = vals[e];                     \
    }

#define PROLOGUE                                                                \
    const long b0 = (long)get_global_id(0) * 4;                                 \
    const long first = b0 * EPB;                                                \
    if (first >= n) return;                                                     \
    uint4 w[4];                                                                 \
    philox4(seed, op, b0, w)

__kernel void KN(rng_gather_rows)(const long n, const long row_len, __global T *out,
                                  const long out_off, __global const T *in, const long in_off,
                                  __global const long *perm)
{
    const long i = get_global_id(0);
    if (i >= n) return;
    const long row = i / row_len;
    out[out_off + i] = in[in_off + perm[row] * row_len + (i - row * row_len)];
}

#if IS_FLOAT

#if WIDE
#define EPB 2
#define CT4 double4
/* 53 random bits from words 2j, 2j + 1 of each block, scaled to [0, 1) exactly. */
#define UNIT4(w, j) (convert_double4((convert_ulong4(w[2 * (j)]) << 21)                \
                                     | convert_ulong4(w[2 * (j) + 1] >> 11)) * 0x1p-53)
#define TWO_PI 6.283185307179586476925286766559
#else
#define EPB 4
#define CT4 float4
/* 24 random bits from word j of each block, scaled to [0, 1) exactly. */
#define UNIT4(w, j) (convert_float4(w[j] >> 8) * 0x1p-24f)
#define TWO_PI 6.283185307179586476925286766559f
#endif
#define VPW (4 * EPB)


/* The work-item's values in [0, 1), in element order. */
inline void units(const uint4 w[4], CT v[VPW])
{
    for (int j = 0; j < EPB; ++j) {
        const CT4 u = UNIT4(w, j);
        SPLIT4(v, EPB, j, u);
    }
}

/* The work-item's N(0, 1) values: Box-Muller on the lane pairs (j, j + 1) of each block. */
inline void normals(const uint4 w[4], CT v[VPW])
{
    for (int j = 0; j < EPB; j += 2) {
        /* 1 - u is in (0, 1], so the log is finite */
        const CT4 r = sqrt((CT4)(-2) * log((CT4)(1) - UNIT4(w, j)));
        const CT4 theta = (CT4)(TWO_PI) * UNIT4(w, j + 1);
        const CT4 z0 = r * cos(theta), z1 = r * sin(theta);
        SPLIT4(v, EPB, j, z0);
        SPLIT4(v, EPB, j + 1, z1);
    }
}

/* v converted to T, never above hi_prev (conversion to T may round up onto high). */
inline T below(const CT v, const CT hi_prev)
{
    const T o = (T)v;
    return (CT)o > hi_prev ? (T)hi_prev : o;
}

__kernel void KN(rng_uniform)(const long n, __global T *out, const long out_off,
                              const ulong seed, const ulong op, const CT lo, const CT width,
                              const CT hi_prev)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    units(w, v);
    for (int e = 0; e < VPW; ++e) r[e] = below(lo + width * v[e], hi_prev);
    STORE(r)
}

__kernel void KN(rng_normal)(const long n, __global T *out, const long out_off,
                             const ulong seed, const ulong op, const CT loc, const CT scale)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    normals(w, v);
    for (int e = 0; e < VPW; ++e) r[e] = (T)(loc + scale * v[e]);
    STORE(r)
}

__kernel void KN(rng_exponential)(const long n, __global T *out, const long out_off,
                                  const ulong seed, const ulong op, const CT inv_lam)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    units(w, v);
    for (int e = 0; e < VPW; ++e) r[e] = (T)(-log((CT)1 - v[e]) * inv_lam);
    STORE(r)
}

/* Per-element parameters: element i uses parameter row i / per. */
__kernel void KN(rng_sample_uniform)(const long n, const long per, __global T *out,
                                     const long out_off, const ulong seed, const ulong op,
                                     __global const T *lo_a, const long lo_off,
                                     __global const T *hi_a, const long hi_off)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    units(w, v);
    for (int e = 0; e < VPW && first + e < n; ++e) {
        const long q = (first + e) / per;
        const T lo = lo_a[lo_off + q], hi = hi_a[hi_off + q];
        r[e] = lo < hi ? below((CT)lo + ((CT)hi - (CT)lo) * v[e], (CT)nextafter(hi, lo))
                       : (T)NAN;
    }
    STORE(r)
}

__kernel void KN(rng_sample_normal)(const long n, const long per, __global T *out,
                                    const long out_off, const ulong seed, const ulong op,
                                    __global const T *loc_a, const long loc_off,
                                    __global const T *scale_a, const long scale_off)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    normals(w, v);
    for (int e = 0; e < VPW && first + e < n; ++e) {
        const long q = (first + e) / per;
        const CT scale = (CT)scale_a[scale_off + q];
        r[e] = scale >= (CT)0 ? (T)((CT)loc_a[loc_off + q] + scale * v[e]) : (T)NAN;
    }
    STORE(r)
}

__kernel void KN(rng_sample_exponential)(const long n, const long per, __global T *out,
                                         const long out_off, const ulong seed, const ulong op,
                                         __global const T *lam_a, const long lam_off)
{
    PROLOGUE;
    CT v[VPW];
    T r[VPW];
    units(w, v);
    for (int e = 0; e < VPW && first + e < n; ++e) {
        const CT lam = (CT)lam_a[lam_off + (first + e) / per];
        r[e] = lam > (CT)0 ? (T)(-log((CT)1 - v[e]) / lam) : (T)NAN;
    }
    STORE(r)
}

#else /* integer outputs */

#define EPB 2
#define VPW 8
#define MAX_RETRY 255u

/* High 64 bits of a * b, from 32-bit halves (mul_hi is a slow call on pocl). */
inline ulong4 mulhi64(const ulong4 a, const ulong4 b)
{
    const ulong4 m = (ulong4)0xFFFFFFFFul;
    const ulong4 al = a & m, ah = a >> 32, bl = b & m, bh = b >> 32;
    const ulong4 lh = al * bh, hl = ah * bl;
    const ulong4 mid = ((al * bl) >> 32) + (lh & m) + (hl & m);
    return ah * bh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/* Lane j (0 or 1) of block b redrawn until its low product reaches threshold. */
inline ulong redraw(const ulong seed, const ulong op, const ulong b, const int j,
                    const ulong range, const ulong threshold)
{
    ulong r = 0;
    for (uint retry = 1; retry <= MAX_RETRY; ++retry) {
        const uint4 y = philox(seed, op, b, retry);
        r = j == 0 ? ((ulong)y.x << 32) | y.y : ((ulong)y.z << 32) | y.w;
        if (r * range >= threshold) break;
    }
    return mulhi64((ulong4)r, (ulong4)range).s0;
}

__kernel void KN(rng_randint)(const long n, __global T *out, const long out_off,
                              const ulong seed, const ulong op, const long low,
                              const ulong range, const ulong threshold)
{
    PROLOGUE;
    ulong v[VPW], lows[VPW];
    T r[VPW];
    for (int j = 0; j < EPB; ++j) {
        /* lane j of each block: 64 bits from words 2j (high) and 2j + 1 */
        const ulong4 x = (convert_ulong4(w[2 * j]) << 32) | convert_ulong4(w[2 * j + 1]);
        const ulong4 hi = mulhi64(x, (ulong4)range), lo = x * (ulong4)range;
        SPLIT4(v, EPB, j, hi);
        SPLIT4(lows, EPB, j, lo);
    }
    for (int e = 0; e < VPW; ++e) {
        const ulong off = lows[e] < threshold
            ? redraw(seed, op, b0 + e / EPB, e % EPB, range, threshold) : v[e];
        r[e] = (T)(long)((ulong)low + off);
    }
    STORE(r)
}

#endif
