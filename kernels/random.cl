/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Random123").
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         output element type
 *   CT        compute type of float outputs (float for half)
 *   SFX       kernel-name suffix: the dtype, e.g. f32
 *   IS_FLOAT  1: the float distributions are built; 0: randint is built
 *   WIDE      1 when one float value takes two 32-bit words (double, 53-bit mantissa)
 *
 * The stream: key = the 64-bit seed; counter = (block index lo, hi, op counter lo,
 * op counter hi | retry << 24) with the op counter below 2^56. Element i of an output is
 * lane i % EPB of block i / EPB, where EPB (elements per block) is 4 for one word per value
 * and 2 for two words (double, randint). So every element is a function of (seed, op counter,
 * i) alone: the same on every device and launch size, and a smaller draw is a prefix of a
 * larger one. FP_CONTRACT is off so `lo + width * u` rounds the same everywhere.
 *
 * Kernels, 1-D launch, one block per work-item (global size >= ceil(n / EPB), guarded),
 * n passed as long, offsets in elements:
 *   rng_uniform_SFX(n, out, out_off, seed, op, lo, width, hi_prev)   lo + width * u, u in [0, 1),
 *       results >= hi_prev + 1 ulp are set to hi_prev (the largest value below high)
 *   rng_normal_SFX(n, out, out_off, seed, op, loc, scale)             Box-Muller on lane pairs
 *   rng_exponential_SFX(n, out, out_off, seed, op, inv_lam)           -log(1 - u) * inv_lam
 *   rng_sample_<dist>_SFX(n, per, out, out_off, seed, op, a, a_off[, b, b_off]) the same with
 *       per-element parameters a[i / per], b[i / per] (T arrays); invalid ones give NaN
 *   rng_randint_SFX(n, out, out_off, seed, op, low, range)            low + [0, range), exact:
 *       Lemire's multiply-shift with rejection, redrawing from the block's retry counters
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

/* Ten Philox rounds; the 32x32->64 products are plain ulong multiplies (mul_hi is a slow
 * call on pocl). */
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

#define WORDS(x) {x.x, x.y, x.z, x.w}

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
/* 53 random bits from words 2j, 2j + 1, scaled to [0, 1) exactly. */
#define UNIT(w, j) ((CT)(((ulong)w[2 * (j)] << 21) | (w[2 * (j) + 1] >> 11)) * (CT)0x1p-53)
#else
#define EPB 4
/* 24 random bits from word j, scaled to [0, 1) exactly (also for half: CT is float). */
#define UNIT(w, j) ((CT)(w[j] >> 8) * (CT)0x1p-24f)
#endif

#define TWO_PI ((CT)6.283185307179586476925286766559)

/* The EPB values of block `b` in [0, 1) (uniform, exponential) or N(0, 1) (normal). */
inline void unit_block(const ulong seed, const ulong op, const ulong b, CT u[EPB])
{
    const uint4 x = philox(seed, op, b, 0);
    const uint w[4] = WORDS(x);
    for (int j = 0; j < EPB; ++j) u[j] = UNIT(w, j);
}

inline void normal_block(const ulong seed, const ulong op, const ulong b, CT z[EPB])
{
    CT u[EPB];
    unit_block(seed, op, b, u);
    for (int j = 0; j < EPB; j += 2) {
        /* 1 - u is in (0, 1], so the log is finite */
        const CT r = sqrt((CT)-2 * log((CT)1 - u[j]));
        const CT theta = TWO_PI * u[j + 1];
        z[j] = r * cos(theta);
        z[j + 1] = r * sin(theta);
    }
}

/* The value of T nearest below hi, as CT: conversion may round up onto hi. */
inline T below(const CT v, const CT hi_prev)
{
    const T o = (T)v;
    return (CT)o > hi_prev ? (T)hi_prev : o;
}

#define BLOCK_LOOP(body)                                                        \
    const long b = get_global_id(0);                                            \
    const long first = b * EPB;                                                 \
    if (first >= n) return;                                                     \
    const int count = (int)min((long)EPB, n - first);                           \
    for (int j = 0; j < count; ++j) {                                           \
        const long i = first + j;                                               \
        body;                                                                   \
    }

__kernel void KN(rng_uniform)(const long n, __global T *out, const long out_off,
                              const ulong seed, const ulong op, const CT lo, const CT width,
                              const CT hi_prev)
{
    CT u[EPB];
    unit_block(seed, op, get_global_id(0), u);
    BLOCK_LOOP(out[out_off + i] = below(lo + width * u[j], hi_prev))
}

__kernel void KN(rng_normal)(const long n, __global T *out, const long out_off,
                             const ulong seed, const ulong op, const CT loc, const CT scale)
{
    CT z[EPB];
    normal_block(seed, op, get_global_id(0), z);
    BLOCK_LOOP(out[out_off + i] = (T)(loc + scale * z[j]))
}

__kernel void KN(rng_exponential)(const long n, __global T *out, const long out_off,
                                  const ulong seed, const ulong op, const CT inv_lam)
{
    CT u[EPB];
    unit_block(seed, op, get_global_id(0), u);
    BLOCK_LOOP(out[out_off + i] = (T)(-log((CT)1 - u[j]) * inv_lam))
}

/* Per-element parameters: element i uses parameter row i / per. */
__kernel void KN(rng_sample_uniform)(const long n, const long per, __global T *out,
                                     const long out_off, const ulong seed, const ulong op,
                                     __global const T *lo_a, const long lo_off,
                                     __global const T *hi_a, const long hi_off)
{
    CT u[EPB];
    unit_block(seed, op, get_global_id(0), u);
    BLOCK_LOOP(
        const T lo = lo_a[lo_off + i / per];
        const T hi = hi_a[hi_off + i / per];
        const CT hi_prev = (CT)nextafter(hi, lo);
        out[out_off + i] = lo < hi ? below((CT)lo + ((CT)hi - (CT)lo) * u[j], hi_prev)
                                   : (T)NAN)
}

__kernel void KN(rng_sample_normal)(const long n, const long per, __global T *out,
                                    const long out_off, const ulong seed, const ulong op,
                                    __global const T *loc_a, const long loc_off,
                                    __global const T *scale_a, const long scale_off)
{
    CT z[EPB];
    normal_block(seed, op, get_global_id(0), z);
    BLOCK_LOOP(
        const CT scale = (CT)scale_a[scale_off + i / per];
        out[out_off + i] = scale >= (CT)0 ? (T)((CT)loc_a[loc_off + i / per] + scale * z[j])
                                          : (T)NAN)
}

__kernel void KN(rng_sample_exponential)(const long n, const long per, __global T *out,
                                         const long out_off, const ulong seed, const ulong op,
                                         __global const T *lam_a, const long lam_off)
{
    CT u[EPB];
    unit_block(seed, op, get_global_id(0), u);
    BLOCK_LOOP(
        const CT lam = (CT)lam_a[lam_off + i / per];
        out[out_off + i] = lam > (CT)0 ? (T)(-log((CT)1 - u[j]) / lam) : (T)NAN)
}

#else /* integer outputs */

#define EPB 2
#define MAX_RETRY 255u

/* 64 random bits of lane j (0 or 1) of a block. */
#define LANE64(x, j) ((j) == 0 ? ((ulong)x.x << 32) | x.y : ((ulong)x.z << 32) | x.w)

/* A uniform integer in [0, range) from lane j of block b: Lemire's multiply-shift with
 * rejection of the biased low products; a redraw reads the block's next retry counter,
 * which happens with probability < range / 2^64 per try. */
inline ulong bounded(const ulong seed, const ulong op, const ulong b, const int j,
                     const uint4 x, const ulong range)
{
    ulong r = LANE64(x, j);
    ulong low = r * range;
    if (low < range) {
        const ulong threshold = (0 - range) % range;
        for (uint retry = 1; low < threshold && retry <= MAX_RETRY; ++retry) {
            const uint4 y = philox(seed, op, b, retry);
            r = LANE64(y, j);
            low = r * range;
        }
    }
    return mul_hi(r, range);
}

__kernel void KN(rng_randint)(const long n, __global T *out, const long out_off,
                              const ulong seed, const ulong op, const long low,
                              const ulong range)
{
    const long b = get_global_id(0);
    const long first = b * EPB;
    if (first >= n) return;
    const uint4 x = philox(seed, op, b, 0);
    const int count = (int)min((long)EPB, n - first);
    for (int j = 0; j < count; ++j)
        out[out_off + first + j] = (T)(long)((ulong)low + bounded(seed, op, b, j, x, range));
}

#endif
