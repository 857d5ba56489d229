/* Normalisation: BatchNorm and LayerNorm, forward and backward.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T     element type of data, outputs and parameters (gamma, beta, moving stats)
 *   AT    accumulator type: float for half, else T
 *   SFX   kernel-name suffix: the dtype, e.g. f32
 *   WG    work-group size, a power of two: 1 on CPU devices, wider on GPUs
 *
 * Every kernel reduces "segments" with one work-group each: 2-D launch, global (WG, groups),
 * local (WG, 1). A segment is n_o runs of n_i contiguous elements, run o at base + o * stride_o;
 * work-item l visits elements l, l + WG, ... of it. Shapes are kernel arguments (long),
 * offsets are in elements. Dimension 1 is exactly the number of segments: the kernels have no
 * early return, which pocl 3 mishandles before a barrier (work-items past the return ran the
 * code after the barrier). SEGMENT_LOOP exposes its position (o_, i_) to the loop body.
 *
 * BatchNorm sees data as (outer, C, inner); segment c (one per channel) is base c * inner,
 * n_o = outer, stride_o = C * inner, n_i = inner:
 *   bn_forward_SFX(x, y, gamma, beta, mmean, mvar, save_mean, save_invstd, out_mean, out_invstd,
 *                  outer, C, inner, eps, momentum, flags)
 *       flags: TRAIN (batch statistics, biased variance; else the moving ones), FIX_GAMMA
 *       (gamma taken as 1), UPDATE (moving = moving * momentum + batch * (1 - momentum)).
 *       y = (x - mean) * invstd * gamma + beta; mean and invstd = 1 / sqrt(var + eps) go to
 *       save_* and out_* (the same buffers when the op shows no such outputs).
 *   bn_backward_SFX(dy, x, gamma, save_mean, save_invstd, dx, dgamma, dbeta, outer, C, inner,
 *                   flags)
 *       flags: TRAIN (the batch-statistics formula), FIX_GAMMA (dgamma = 0).
 *   bn_forward_cols_SFX, bn_backward_cols_SFX (WG == 1 only, inner == 1): the same, with COLS
 *       neighbouring channels per work-item: dimension 1 is ceil(C / COLS).
 * LayerNorm sees data as (outer, L, inner) and normalises along L; segment g (one per row,
 * g = o * inner + i) is base o * L * inner + i, one run of L when inner == 1, else L runs of
 * one element at stride inner:
 *   ln_forward_SFX(x, y, gamma, beta, out_mean, out_std, outer, L, inner, eps)
 *       y = (x - mean) / std * gamma + beta, std = sqrt(var + eps)
 *   ln_backward_SFX(dy, x, gamma, dx, row_mean, row_invstd, outer, L, inner, eps)
 *       dx; the row statistics (AT) are kept for ln_param_grad
 *   ln_param_grad_SFX(dy, x, row_mean, row_invstd, dgamma, dbeta, outer, L, inner)
 *       one segment per COLS positions along L (the BatchNorm layout with C = L): dimension
 *       1 is ceil(L / COLS)
 */
#ifndef T
#define T float
#define AT float
#define SFX f32
#define WG 64
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SFX)
#define INLINE static inline __attribute__((always_inline))

#define TRAIN 1
#define FIX_GAMMA 2
#define UPDATE 4

/* Neighbouring columns one work-item takes where a reduction runs down strided columns (the
 * _cols kernels, ln_param_grad): on CPU devices 16, so each row is read a cache line at a
 * time. */
#if WG == 1
#define COLS 16
#else
#define COLS 1
#endif

/* Offsets of this work-item's elements in a segment, as `off`, at position (o_, i_) of it.
 * WG == 1 (CPU devices: a work-group runs on one core anyway) walks each run in order, so the
 * inner loop is contiguous; wider groups interleave their work-items, (o_, i_) = divmod(k, n_i)
 * for k = lid, lid + WG, ..., advanced without a division per element. */
#if WG == 1
#define SEGMENT_LOOP(off, base, n_o, stride_o, n_i)                                      \
    for (long o_ = 0; o_ < (n_o); ++o_)                                                  \
        for (long i_ = 0, off = (base) + o_ * (stride_o); i_ < (n_i); ++i_, ++off)
#else
#define SEGMENT_LOOP(off, base, n_o, stride_o, n_i)                                      \
    const long step_o_ = WG / (n_i), step_i_ = WG % (n_i);                               \
    for (long o_ = lid / (n_i), i_ = lid % (n_i), off = (base) + o_ * (stride_o) + i_;   \
         o_ < (n_o);                                                                     \
         i_ += step_i_, o_ += step_o_ + (i_ >= (n_i)), i_ -= i_ >= (n_i) ? (n_i) : 0,    \
         off = (base) + o_ * (stride_o) + i_)
#endif

/* a += sum of EA, b += sum of EB over this work-item's elements: expressions of `off` and,
 * for a 1-D segment (n_o or n_i is 1), of its position `pos_` in it. On CPU devices four
 * partial sums per run hide the latency of the additions. */
#if WG == 1
#define SUM2_AT(k, EA, EB)                                                               \
    { const long off = run_ + i_ + (k), pos_ = o_ + i_ + (k); a##k##_ += (EA); b##k##_ += (EB); }
#define SEGMENT_SUM2(a, EA, b, EB, base, n_o, stride_o, n_i)                             \
    {                                                                                    \
        AT a0_ = (AT)0, a1_ = (AT)0, a2_ = (AT)0, a3_ = (AT)0;                           \
        AT b0_ = (AT)0, b1_ = (AT)0, b2_ = (AT)0, b3_ = (AT)0;                           \
        for (long o_ = 0; o_ < (n_o); ++o_) {                                            \
            const long run_ = (base) + o_ * (stride_o);                                  \
            long i_ = 0;                                                                 \
            for (; i_ + 4 <= (n_i); i_ += 4) {                                           \
                SUM2_AT(0, EA, EB) SUM2_AT(1, EA, EB)                                      \
                SUM2_AT(2, EA, EB) SUM2_AT(3, EA, EB)                                    \
            }                                                                            \
            for (; i_ < (n_i); ++i_) SUM2_AT(0, EA, EB)                                  \
        }                                                                                \
        a += (a0_ + a1_) + (a2_ + a3_);                                                  \
        b += (b0_ + b1_) + (b2_ + b3_);                                                  \
    }
#else
#define SEGMENT_SUM2(a, EA, b, EB, base, n_o, stride_o, n_i)                             \
    { SEGMENT_LOOP(off, base, n_o, stride_o, n_i) {                                     \
        const long pos_ = o_ + i_; a += (EA); b += (EB); } }
#endif

/* The sum of every work-item's v, returned to all of them. */
INLINE AT group_sum(const AT v, __local AT *scratch)
{
    const int l = get_local_id(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h) scratch[l] += scratch[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const AT total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the next call */
    return total;
}

/* Mean and biased variance of a segment of `count` elements (two passes: no cancellation). */
#define SEGMENT_MOMENTS(mean, var, p, base, n_o, stride_o, n_i, count)                   \
    AT mean, var;                                                                        \
    {                                                                                    \
        AT s = (AT)0, q = (AT)0;                                                         \
        SEGMENT_SUM2(s, (AT)p[off], q, (AT)0, base, n_o, stride_o, n_i)                  \
        mean = (count) ? group_sum(s, scratch) / (AT)(count) : (AT)0;                    \
        SEGMENT_SUM2(q, ((AT)p[off] - mean) * ((AT)p[off] - mean), s, (AT)0,             \
                     base, n_o, stride_o, n_i)                                           \
        var = (count) ? group_sum(q, scratch) / (AT)(count) : (AT)0;                     \
    }

/* 1 / sqrt(var + eps), 0 where both are 0 (as MXNet, rather than infinity). */
INLINE AT inv_std(const AT var, const AT eps)
{
    return var == (AT)0 && eps == (AT)0 ? (AT)0 : (AT)1 / sqrt(var + eps);
}

__kernel void KN(bn_forward)(__global const T *x, const long x_off, __global T *y,
                             const long y_off, __global const T *gamma, const long gamma_off,
                             __global const T *beta, const long beta_off, __global T *mmean,
                             const long mmean_off, __global T *mvar, const long mvar_off,
                             __global T *save_mean, __global T *save_invstd,
                             __global T *out_mean, const long out_mean_off,
                             __global T *out_invstd, const long out_invstd_off,
                             const long outer, const long C, const long inner, const AT eps,
                             const AT momentum, const int flags)
{
    __local AT scratch[WG];
    const long lid = get_local_id(0), c = get_global_id(1);
    const long n_i = inner ? inner : 1, n_o = inner ? outer : 0, count = outer * inner;
    const long base = c * inner, stride = C * inner;
    AT mean, invstd;
    if (flags & TRAIN) {
        SEGMENT_MOMENTS(bm, bv, (x + x_off), base, n_o, stride, n_i, count)
        mean = bm;
        invstd = inv_std(bv, eps);
        if (lid == 0 && (flags & UPDATE) && count) {
            mmean[mmean_off + c] = (T)((AT)mmean[mmean_off + c] * momentum
                                       + bm * ((AT)1 - momentum));
            mvar[mvar_off + c] = (T)((AT)mvar[mvar_off + c] * momentum
                                     + bv * ((AT)1 - momentum));
        }
    } else {
        mean = (AT)mmean[mmean_off + c];
        invstd = inv_std((AT)mvar[mvar_off + c], eps);
    }
    if (lid == 0) {
        save_mean[c] = (T)mean;
        save_invstd[c] = (T)invstd;
        out_mean[out_mean_off + c] = (T)mean;
        out_invstd[out_invstd_off + c] = (T)invstd;
    }
    const AT scale = (flags & FIX_GAMMA) ? invstd : invstd * (AT)gamma[gamma_off + c];
    const AT shift = (AT)beta[beta_off + c];
    SEGMENT_LOOP(off, base, n_o, stride, n_i)
        y[y_off + off] = (T)(((AT)x[x_off + off] - mean) * scale + shift);
}

__kernel void KN(bn_backward)(__global const T *dy, const long dy_off, __global const T *x,
                              const long x_off, __global const T *gamma, const long gamma_off,
                              __global const T *save_mean, __global const T *save_invstd,
                              __global T *dx, const long dx_off, __global T *dgamma,
                              const long dgamma_off, __global T *dbeta, const long dbeta_off,
                              const long outer, const long C, const long inner, const int flags)
{
    __local AT scratch[WG];
    const long lid = get_local_id(0), c = get_global_id(1);
    const long n_i = inner ? inner : 1, n_o = inner ? outer : 0, count = outer * inner;
    const long base = c * inner, stride = C * inner;
    const AT mean = (AT)save_mean[c], invstd = (AT)save_invstd[c];
    AT s = (AT)0, d = (AT)0;
    SEGMENT_SUM2(s, (AT)dy[dy_off + off], d, ((AT)x[x_off + off] - mean) * (AT)dy[dy_off + off],
                 base, n_o, stride, n_i)
    const AT sum_dy = group_sum(s, scratch), dot = group_sum(d, scratch);
    if (lid == 0) {
        dgamma[dgamma_off + c] = (flags & FIX_GAMMA) ? (T)0 : (T)(dot * invstd);
        dbeta[dbeta_off + c] = (T)sum_dy;
    }
    const AT w = (flags & FIX_GAMMA) ? (AT)1 : (AT)gamma[gamma_off + c];
    const AT a = invstd * w;
    if (flags & TRAIN) {
        /* dx = (dy - mean(dy) - (x - mean) * mean(dy * (x - mean)) * invstd^2) * invstd * w */
        const AT k = count ? dot * invstd * invstd / (AT)count : (AT)0;
        const AT g_mean = count ? sum_dy / (AT)count : (AT)0;
        SEGMENT_LOOP(off, base, n_o, stride, n_i)
            dx[dx_off + off] = (T)(((AT)dy[dy_off + off] - g_mean
                                    - ((AT)x[x_off + off] - mean) * k) * a);
    } else {
        SEGMENT_LOOP(off, base, n_o, stride, n_i)
            dx[dx_off + off] = (T)((AT)dy[dy_off + off] * a);
    }
}

#if WG == 1
/* (outer, C) data on CPU devices: channels c0 .. c0 + cols - 1 of each row are neighbours. */
#define COLS_PROLOGUE                                                                    \
    const long c0 = get_global_id(1) * COLS;                                             \
    const int cols = (int)min((long)COLS, C - c0);                                       \
    x += x_off + c0

__kernel void KN(bn_forward_cols)(__global const T *x, const long x_off, __global T *y,
                                  const long y_off, __global const T *gamma,
                                  const long gamma_off, __global const T *beta,
                                  const long beta_off, __global T *mmean, const long mmean_off,
                                  __global T *mvar, const long mvar_off, __global T *save_mean,
                                  __global T *save_invstd, __global T *out_mean,
                                  const long out_mean_off, __global T *out_invstd,
                                  const long out_invstd_off, const long outer, const long C,
                                  const long inner, const AT eps, const AT momentum,
                                  const int flags)
{
    COLS_PROLOGUE;
    y += y_off + c0;
    AT mean[COLS], invstd[COLS], scale[COLS];
    if (flags & TRAIN) {
        AT s[COLS], q[COLS];
        for (int j = 0; j < COLS; ++j) s[j] = q[j] = (AT)0;
        for (long o = 0; o < outer; ++o)
            for (int j = 0; j < cols; ++j) s[j] += (AT)x[o * C + j];
        for (int j = 0; j < cols; ++j) mean[j] = outer ? s[j] / (AT)outer : (AT)0;
        for (long o = 0; o < outer; ++o)
            for (int j = 0; j < cols; ++j) {
                const AT d = (AT)x[o * C + j] - mean[j];
                q[j] += d * d;
            }
        for (int j = 0; j < cols; ++j) {
            const AT var = outer ? q[j] / (AT)outer : (AT)0;
            invstd[j] = inv_std(var, eps);
            if ((flags & UPDATE) && outer) {
                const long c = c0 + j;
                mmean[mmean_off + c] = (T)((AT)mmean[mmean_off + c] * momentum
                                           + mean[j] * ((AT)1 - momentum));
                mvar[mvar_off + c] = (T)((AT)mvar[mvar_off + c] * momentum
                                         + var * ((AT)1 - momentum));
            }
        }
    } else {
        for (int j = 0; j < cols; ++j) {
            mean[j] = (AT)mmean[mmean_off + c0 + j];
            invstd[j] = inv_std((AT)mvar[mvar_off + c0 + j], eps);
        }
    }
    for (int j = 0; j < cols; ++j) {
        const long c = c0 + j;
        save_mean[c] = out_mean[out_mean_off + c] = (T)mean[j];
        save_invstd[c] = out_invstd[out_invstd_off + c] = (T)invstd[j];
        scale[j] = (flags & FIX_GAMMA) ? invstd[j] : invstd[j] * (AT)gamma[gamma_off + c];
    }
    for (long o = 0; o < outer; ++o)
        for (int j = 0; j < cols; ++j)
            y[o * C + j] = (T)(((AT)x[o * C + j] - mean[j]) * scale[j]
                               + (AT)beta[beta_off + c0 + j]);
}

__kernel void KN(bn_backward_cols)(__global const T *dy, const long dy_off, __global const T *x,
                                   const long x_off, __global const T *gamma,
                                   const long gamma_off, __global const T *save_mean,
                                   __global const T *save_invstd, __global T *dx,
                                   const long dx_off, __global T *dgamma,
                                   const long dgamma_off, __global T *dbeta,
                                   const long dbeta_off, const long outer, const long C,
                                   const long inner, const int flags)
{
    COLS_PROLOGUE;
    dy += dy_off + c0;
    dx += dx_off + c0;
    AT mean[COLS], invstd[COLS], s[COLS], d[COLS], a[COLS], k[COLS];
    for (int j = 0; j < COLS; ++j) {
        mean[j] = j < cols ? (AT)save_mean[c0 + j] : (AT)0;
        invstd[j] = j < cols ? (AT)save_invstd[c0 + j] : (AT)0;
        s[j] = d[j] = (AT)0;
    }
    for (long o = 0; o < outer; ++o)
        for (int j = 0; j < cols; ++j) {
            const AT g = (AT)dy[o * C + j];
            s[j] += g;
            d[j] += ((AT)x[o * C + j] - mean[j]) * g;
        }
    for (int j = 0; j < cols; ++j) {
        const long c = c0 + j;
        dgamma[dgamma_off + c] = (flags & FIX_GAMMA) ? (T)0 : (T)(d[j] * invstd[j]);
        dbeta[dbeta_off + c] = (T)s[j];
        a[j] = invstd[j] * ((flags & FIX_GAMMA) ? (AT)1 : (AT)gamma[gamma_off + c]);
        /* the batch-statistics terms, as in bn_backward; k is 0 for the affine formula */
        k[j] = (flags & TRAIN) && outer ? d[j] * invstd[j] * invstd[j] / (AT)outer : (AT)0;
        s[j] = (flags & TRAIN) && outer ? s[j] / (AT)outer : (AT)0;
    }
    for (long o = 0; o < outer; ++o)
        for (int j = 0; j < cols; ++j)
            dx[o * C + j] = (T)(((AT)dy[o * C + j] - s[j] - ((AT)x[o * C + j] - mean[j]) * k[j])
                                * a[j]);
}
#endif

/* A LayerNorm row: one run of L elements when inner == 1, else L runs of one element
 * (L == 0: no runs, n_i stays >= 1 for SEGMENT_LOOP's division). */
#define LN_ROW                                                                           \
    const long base = (g / inner) * L * inner + g % inner;                               \
    const long n_o = inner == 1 ? (L ? 1 : 0) : L, n_i = inner == 1 && L ? L : 1

__kernel void KN(ln_forward)(__global const T *x, const long x_off, __global T *y,
                             const long y_off, __global const T *gamma, const long gamma_off,
                             __global const T *beta, const long beta_off, __global T *out_mean,
                             const long out_mean_off, __global T *out_std,
                             const long out_std_off, const long outer, const long L,
                             const long inner, const AT eps)
{
    __local AT scratch[WG];
    const long lid = get_local_id(0), g = get_global_id(1);
    LN_ROW;
    SEGMENT_MOMENTS(mean, var, (x + x_off), base, n_o, inner, n_i, L)
    const AT sd = sqrt(var + eps), invstd = (AT)1 / sd;
    if (lid == 0) {
        out_mean[out_mean_off + g] = (T)mean;
        out_std[out_std_off + g] = (T)sd;
    }
    SEGMENT_LOOP(off, base, n_o, inner, n_i) {
        const long r = o_ + i_; /* the position along L: one of them is 0 */
        y[y_off + off] = (T)(((AT)x[x_off + off] - mean) * invstd * (AT)gamma[gamma_off + r]
                             + (AT)beta[beta_off + r]);
    }
}

__kernel void KN(ln_backward)(__global const T *dy, const long dy_off, __global const T *x,
                              const long x_off, __global const T *gamma, const long gamma_off,
                              __global T *dx, const long dx_off, __global AT *row_mean,
                              __global AT *row_invstd, const long outer, const long L,
                              const long inner, const AT eps)
{
    __local AT scratch[WG];
    const long lid = get_local_id(0), g = get_global_id(1);
    LN_ROW;
    SEGMENT_MOMENTS(mean, var, (x + x_off), base, n_o, inner, n_i, L)
    const AT invstd = (AT)1 / sqrt(var + eps);
    if (lid == 0) {
        row_mean[g] = mean;
        row_invstd[g] = invstd;
    }
    /* with h = dy * gamma and xhat = (x - mean) * invstd:
     * dx = (h - mean(h) - xhat * mean(h * xhat)) * invstd */
#define LN_H ((AT)dy[dy_off + off] * (AT)gamma[gamma_off + pos_])
    AT s = (AT)0, d = (AT)0;
    SEGMENT_SUM2(s, LN_H, d, LN_H * ((AT)x[x_off + off] - mean), base, n_o, inner, n_i)
    const AT h_mean = group_sum(s, scratch) / (AT)L;
    const AT hx_mean = group_sum(d, scratch) * invstd / (AT)L;
    SEGMENT_LOOP(off, base, n_o, inner, n_i) {
        const long pos_ = o_ + i_;
        const AT xhat = ((AT)x[x_off + off] - mean) * invstd;
        dx[dx_off + off] = (T)((LN_H - h_mean - xhat * hx_mean) * invstd);
    }
#undef LN_H
}

/* dgamma and dbeta at positions r0 .. r0 + COLS - 1 along L, summed over the rows (on GPUs
 * one position per work-group, the rows split among its work-items). */
__kernel void KN(ln_param_grad)(__global const T *dy, const long dy_off, __global const T *x,
                                const long x_off, __global const AT *row_mean,
                                __global const AT *row_invstd, __global T *dgamma,
                                const long dgamma_off, __global T *dbeta, const long dbeta_off,
                                const long outer, const long L, const long inner)
{
    __local AT scratch[WG];
    const long lid = get_local_id(0), r0 = get_global_id(1) * COLS;
    const long n_i = inner ? inner : 1, n_o = inner ? outer : 0;
    const int cols = (int)min((long)COLS, L - r0);
    AT sg[COLS], sb[COLS];
    for (int j = 0; j < COLS; ++j) sg[j] = sb[j] = (AT)0;
    {
        /* element (o, r0, i) starts row o * inner + i: (o_, i_) of the loop */
        SEGMENT_LOOP(off, r0 * inner, n_o, L * inner, n_i) {
            const long row = o_ * inner + i_;
            const AT m = row_mean[row], is = row_invstd[row];
            for (int j = 0; j < cols; ++j) {
                const AT g = (AT)dy[dy_off + off + j * inner];
                sb[j] += g;
                sg[j] += g * ((AT)x[x_off + off + j * inner] - m) * is;
            }
        }
    }
    for (int j = 0; j < cols; ++j) {
        const AT dot = group_sum(sg[j], scratch), sum_dy = group_sum(sb[j], scratch);
        if (lid == 0) {
            dgamma[dgamma_off + r0 + j] = (T)dot;
            dbeta[dbeta_off + r0 + j] = (T)sum_dy;
        }
    }
}
