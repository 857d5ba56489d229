/* Convolution lowering over dense NCHW arrays: im2col / col2im and row copies; 1-D (NCW) runs
 * as H = OH = KH = 1. One program per dtype holds every kernel, but for wgrad_direct, built
 * only with WKW and WFB defined (see it at the end).
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         element type
 *   CT        compute type (float for half, else T)
 *   HALF      1 when T is half (vectors then convert to CT and back), else 0
 *   SUFFIX    dtype suffix of the kernel names, e.g. f32
 *
 * Geometry (int arguments, so one build serves every shape): C channels of the image side,
 * H x W its size, OH x OW the output side, KH x KW kernel, SH SW stride, PH PW padding,
 * DH DW dilation. Output position (oh, ow) and kernel tap (kh, kw) read image position
 * (oh * SH - PH + kh * DH, ow * SW - PW + kw * DW); outside the image it reads zero.
 * Offsets into buffers are long; indices inside one image are int.
 *
 * Contiguous runs move 8 elements at a time through an 8-vector type of element alignment
 * (any offset is legal), the rest one by one.
 *
 * Kernels (every launch is rounded up to the local size and guarded):
 *   im2col_SUFFIX   cols[r][b * OH * OW + oh * OW + ow] = x[b][c][ih][iw] for tap row
 *                   r = (c * KH + kh) * KW + kw and image b < nb (a chunk of the batch at
 *                   x + x_off): the (C*KH*KW) x (nb*OH*OW) matrix a convolution multiplies.
 *                   Launch (nb, C*KH*KW): work-item (b, r) writes the contiguous run of
 *                   OH*OW values of its tap and image; neighbouring work-items write
 *                   neighbouring runs.
 *   im2col_packed_SUFFIX  the same matrix written straight into the column panels of the GEMM's
 *                   packed B (kernels/gemm.cl gemm_pack_b, in the compute type): per group
 *                   g (its KG = C*KH*KW / groups tap rows are the product's k), element
 *                   (q, k, e) at dst + g * dst_bs + (q * KG + k) * NR + e holds column
 *                   q * NR + e of tap row g * KG + k; columns past nb*OH*OW are zero.
 *                   Launch (ceil(nb*OH*OW / NR), ceil(C*KH*KW / PACK_TAPS)): work-item
 *                   (q, s) writes panel q for tap rows s * PACK_TAPS .. s * PACK_TAPS +
 *                   PACK_TAPS - 1, one output row's segment of the panel at a time: a
 *                   vector run per tap row where the segment reads inside the image.
 *   im2col_packed_t_SUFFIX  the packed panels of the transposed matrix (the weight
 *                   gradient's B: k runs over the nb*OH*OW positions, panels over a group's
 *                   KG tap rows): element (q, j, e) at dst + g * dst_bs + (q * nb*OH*OW + j)
 *                   * NR + e holds tap row g * KG + q * NR + e at position j; taps past KG
 *                   are zero. Launch (ceil(nb*OH*OW / PACK_RUNS), ceil(KG / NR), groups):
 *                   work-item (s, q, g) writes the runs of NR taps of positions
 *                   s * PACK_RUNS .. s * PACK_RUNS + PACK_RUNS - 1.
 *   col2im_SUFFIX   the transpose, as a gather: dx[b][c][ih][iw] = bias[c] (when has_bias)
 *                   plus the cols entries whose tap reads (ih, iw). A work-item owns one
 *                   image row (b, c, ih): it initialises the row, then adds each contributing
 *                   cols row segment, so nothing is written twice at once (no atomics).
 *                   Launch (nb * C * H).
 *   conv_one_SUFFIX y[n][f][oh][ow] = bias[f] (when has_bias) + the sum over taps of
 *                   w[f][kh][kw] * x[n][f / FG][ih][iw]: the direct convolution of images with
 *                   one input channel per group (FG filters per group, F in all, N images).
 *                   Launch (N * F / FG * ceil(FG / 4) * OH): a work-item writes output row oh
 *                   of up to 4 filters of a group, 8 columns at a time where every tap is
 *                   inside the image (stride 1; with one filter per group, stride 2 too,
 *                   each vector the even half of 16 loaded values), the rest one by one; with
 *                   one filter per group at stride 1 the rest as 8-column blocks over
 *                   zero-padded private copies of the image rows (edge_block).
 *   conv_one_t_SUFFIX  the data gradient of a depthwise conv_one (one image channel and one
 *                   filter per group), any stride: dx[n][c][ih][iw] = bias[c] (when has_bias)
 *                   plus the sum over the taps (kh, kw) with ih = oh * SH - PH + kh * DH and
 *                   iw = ow * SW - PW + kw * DW of dy[n][c][oh][ow] * w[c][kh][kw].
 *                   Launch (N * C * H): a work-item writes image row ih of channel c, phase
 *                   by phase (iw = r + SW * j): in a phase each tap reads dy at j plus a
 *                   fixed offset, so 8 values of j are one vector.
 *   rows_copy_SUFFIX  dst[dst_off + (o * NI + i) * len + s] = src[src_off + o * so + i * si
 *                   + s] (+ bias[i] when has_bias) for o < NO, i < NI, s < len: moves
 *                   (F, nb, HW) products into NCHW and back. src may be dst (in place).
 *                   Launch (NO * NI): a work-item copies one run of len.
 */
#ifndef T
#define T float
#define CT float
#define HALF 0
#define SUFFIX f32
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)
#define PASTE_(a, b) a##b
#define PASTE(a, b) PASTE_(a, b)
#define T8 PASTE(T, 8)
#define CT8 PASTE(CT, 8)

/* 8 elements at any element offset: the vector type with the element's alignment */
typedef T8 vec8u __attribute__((aligned(sizeof(T))));
typedef PASTE(T, 16) vec16u __attribute__((aligned(sizeof(T))));
/* vectors convert only for half: convert_ calls on double8 break pocl's ABI */
#if HALF
#define TO_CT8(v) convert_float8(v)
#define TO_T8(v) convert_half8(v)
#else
#define TO_CT8(v) (v)
#define TO_T8(v) (v)
#endif
#define LOAD8(p) TO_CT8(*(__global const vec8u *)(p))
/* 8 elements at p, p + 2, ..., p + 14 (a stride-2 row) */
#define LOAD8_EVEN(p) TO_CT8((*(__global const vec16u *)(p)).even)
#define STORE8(p, v) (*(__global vec8u *)(p) = TO_T8(v))
/* a CT8 of 8 private values: vload8 is a builtin call, whose double8 result breaks pocl's ABI */
#define CT8_OF(t) ((CT8)((t)[0], (t)[1], (t)[2], (t)[3], (t)[4], (t)[5], (t)[6], (t)[7]))

#define GEOM_ARGS const int C, const int H, const int W, const int OH, const int OW, \
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW, \
    const int DH, const int DW

/* [lo, hi): the output columns ow whose image column ow * SW + iw0 lies in [0, W) (or the
 * same for rows) */
inline int2 col_range(const int iw0, const int SW, const int W, const int OW)
{
    int lo, hi;
    if (SW == 1) {  /* no divisions on the common path */
        lo = max(-iw0, 0);
        hi = W - iw0;
    } else {
        lo = iw0 >= 0 ? 0 : (SW - 1 - iw0) / SW;
        hi = iw0 > W - 1 ? 0 : (W - 1 - iw0) / SW + 1;
    }
    lo = min(lo, OW);
    return (int2)(lo, clamp(hi, lo, OW));
}

/* Runs: runs of 8 values and more end with a vector that may overlap the one before it, so
 * no scalar tail loop is left. NOTE: pocl: a scalar tail loop after the vector loop made
 * LeNet's packed im2col 2-3x slower, even where it ran no iteration. */

/* The body of a run function over [0, n): ONE(i) per element when n < 8, else PUT8(i, V8(i))
 * for i = 0, 8, ... and last at n - 8, whose V8 is read before any store, so a run updated
 * in place reads its own old values. */
#define OVERLAPPED_RUN(n, ONE, V8, PUT8)                                        \
    if ((n) < 8) {                                                              \
        for (long i = 0; i < (n); ++i)                                          \
            ONE(i);                                                             \
        return;                                                                 \
    }                                                                           \
    const CT8 last_ = V8((n) - 8);                                              \
    for (long i = 0; i + 8 < (n); i += 8)                                       \
        PUT8(i, V8(i));                                                         \
    PUT8((n) - 8, last_)

typedef CT8 ctvec8u __attribute__((aligned(sizeof(CT))));
#define PUT_T8(i, v) STORE8(dst + (i), v)
#define PUT_CT8(i, v) (*(__global ctvec8u *)(dst + (i)) = (v))

/* dst[0, n) = v */
inline void fill_run(__global T *dst, const T v, const long n)
{
#define ONE_FILL(i) (dst[i] = v)
#define V8_FILL(i) ((CT8)(CT)v)
    OVERLAPPED_RUN(n, ONE_FILL, V8_FILL, PUT_T8);
}

/* dst[0, n) = src[0, n) (apart, or the same run) */
inline void copy_run(__global T *dst, __global const T *src, const long n)
{
#define ONE_COPY(i) (dst[i] = src[i])
#define V8_SRC(i) LOAD8(src + (i))
    OVERLAPPED_RUN(n, ONE_COPY, V8_SRC, PUT_T8);
}

/* dst[0, n) = src[0, n) in the compute type (packed GEMM panels) */
inline void cvt_run(__global CT *dst, __global const T *src, const int n)
{
#define ONE_CVT(i) (dst[i] = (CT)src[i])
    OVERLAPPED_RUN(n, ONE_CVT, V8_SRC, PUT_CT8);
}

/* dst[0, n) = src[0, n) + add; dst may be src */
inline void copy_add_run(__global T *dst, __global const T *src, const long n, const CT add)
{
#define ONE_ADD(i) (dst[i] = (T)((CT)src[i] + add))
#define V8_ADD(i) (LOAD8(src + (i)) + add)
    OVERLAPPED_RUN(n, ONE_ADD, V8_ADD, PUT_T8);
}

__kernel void KN(im2col)(__global const T *restrict x, const long x_off,
                         __global T *restrict cols, GEOM_ARGS, const int nb)
{
    const int b = get_global_id(0), r = get_global_id(1);  /* r = (c * KH + kh) * KW + kw */
    if (b >= nb) return;
    const int kw = r % KW, kh = (r / KW) % KH, c = r / (KW * KH);
    __global T *dst = cols + (long)r * nb * OH * OW + (long)b * OH * OW;
    const int ih0 = kh * DH - PH, iw0 = kw * DW - PW;
    /* output rows [rows.x, rows.y) read image rows inside; the others are zero */
    const int2 rows = col_range(ih0, SH, H, OH), span = col_range(iw0, SW, W, OW);
    fill_run(dst, (T)0, rows.x * OW);
    fill_run(dst + rows.y * OW, (T)0, (OH - rows.y) * OW);
    __global const T *src = x + x_off + ((long)b * C + c) * H * W + (rows.x * SH + ih0) * W
        + iw0;
    dst += rows.x * OW;
    if (SW == 1 && span.x == 0 && span.y == OW) {
        if (SH * W == OW) {  /* the rows are one run in the image too (1x1 kernels) */
            copy_run(dst, src, (rows.y - rows.x) * OW);
        } else {
            for (int oh = rows.x; oh < rows.y; ++oh, dst += OW, src += SH * W)
                copy_run(dst, src, OW);
        }
        return;
    }
    for (int oh = rows.x; oh < rows.y; ++oh, dst += OW, src += SH * W) {
        fill_run(dst, (T)0, span.x);
        if (SW == 1) {
            copy_run(dst + span.x, src + span.x, span.y - span.x);
        } else {
            for (int ow = span.x; ow < span.y; ++ow)
                dst[ow] = src[ow * SW];
        }
        fill_run(dst + span.y, (T)0, OW - span.y);
    }
}

/* The next tap row (kw, then kh, then the channel) of a walk whose position `p` (a pointer
 * or an offset) reads inside the image: p moves to that tap's element. */
#define NEXT_TAP(p)                                                             \
    do {                                                                        \
        p += DW;                                                                \
        if (++kw == KW) {                                                       \
            kw = 0;                                                             \
            p += DH * W - KW * DW;                                              \
            if (++kh == KH) {                                                   \
                kh = 0;                                                         \
                p += (H - KH * DH) * W;                                         \
            }                                                                   \
        }                                                                       \
    } while (0)

#define PACK_RUNS 8  /* positions per work-item of im2col_packed_t */
#define PACK_TAPS 32  /* tap rows per work-item of im2col_packed */

__kernel void KN(im2col_packed)(__global const T *restrict x, const long x_off,
                                __global CT *restrict dst, GEOM_ARGS, const int nb,
                                const int KG, const int NR, const long dst_bs)
{
    const int ohw = OH * OW, taps = C * KH * KW, r0 = get_global_id(1) * PACK_TAPS;
    const long q = get_global_id(0), ncols = (long)nb * ohw, j0 = q * NR;
    if (j0 >= ncols || r0 >= taps) return;
    const int r1 = min(r0 + PACK_TAPS, taps), nlive = (int)min((long)NR, ncols - j0);
    __global const T *img = x + x_off;
    __global CT *out0 = dst + r0 / KG * dst_bs + (q * KG + r0 % KG) * NR;
    /* The panel's positions, one output row segment at a time (lanes e0 .. e0 + n - 1),
     * each copied for every tap row: no per-lane state is kept. */
    int b = j0 / ohw, oh = j0 % ohw / OW, ow = j0 % OW;
    for (int e0 = 0; e0 < nlive;) {
        const int n = min(OW - ow, nlive - e0), ih0 = oh * SH - PH, iw0 = ow * SW - PW;
        __global const T *seg = img + ((long)b * C * H + ih0) * W + iw0;
        __global CT *out = out0 + e0;
        int kw = r0 % KW, kh = r0 / KW % KH, rk = r0 % KG;
        __global const T *src = seg + ((long)(r0 / (KW * KH)) * H + kh * DH) * W + kw * DW;
        /* every tap reads inside the image: nothing to check */
        const int inside = SW == 1 && ih0 >= 0 && ih0 + (KH - 1) * DH < H && iw0 >= 0
            && iw0 + (KW - 1) * DW + n <= W;
        for (int r = r0; r < r1; ++r) {
            const int ih = ih0 + kh * DH, iw = iw0 + kw * DW;
            if (inside || (SW == 1 && ih >= 0 && ih < H && iw >= 0 && iw + n <= W)) {
                cvt_run(out, src, n);
            } else if (ih < 0 || ih >= H) {
                for (int e = 0; e < n; ++e)
                    out[e] = (CT)0;
            } else {
                for (int e = 0; e < n; ++e) {
                    const int w = iw + e * SW;
                    out[e] = w >= 0 && w < W ? (CT)src[e * SW] : (CT)0;
                }
            }
            out += NR;
            if (++rk == KG) {  /* the next group's panels */
                rk = 0;
                out += dst_bs - (long)KG * NR;
            }
            NEXT_TAP(src);
        }
        e0 += n;
        ow += n;
        if (ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                ++b;
            }
        }
    }
    if (nlive < NR) {  /* the last panel: columns past the matrix are zero */
        __global CT *out = out0;
        for (int r = r0, rk = r0 % KG; r < r1; ++r) {
            for (int e = nlive; e < NR; ++e)
                out[e] = (CT)0;
            out += NR;
            if (++rk == KG) {
                rk = 0;
                out += dst_bs - (long)KG * NR;
            }
        }
    }
}

__kernel void KN(im2col_packed_t)(__global const T *restrict x, const long x_off,
                                  __global CT *restrict dst, GEOM_ARGS, const int nb,
                                  const int KG, const int NR, const long dst_bs)
{
    const int ohw = OH * OW, q = get_global_id(1), g = get_global_id(2);
    const long ncols = (long)nb * ohw, j0 = get_global_id(0) * PACK_RUNS;
    if (j0 >= ncols) return;
    const long j1 = min(j0 + PACK_RUNS, ncols);
    const int r0 = g * KG + q * NR, nv = min(NR, KG - q * NR), p = j0 % ohw;
    const int kw0 = r0 % KW, kh0 = (r0 / KW) % KH, c0 = r0 / (KW * KH);
    int b = j0 / ohw, oh = p / OW, ow = p % OW;
    __global CT *out = dst + g * dst_bs + ((long)q * ncols + j0) * NR;
    for (long j = j0; j < j1; ++j, out += NR) {
        const int ihb = oh * SH - PH, iwb = ow * SW - PW;
        __global const T *img = x + x_off + (long)b * C * H * W;
        int kw = kw0, kh = kh0, c = c0;
        if (ihb >= 0 && ihb + (KH - 1) * DH < H && iwb >= 0 && iwb + (KW - 1) * DW < W) {
            /* every tap inside the image: step the address instead of checking each tap */
            long off = ((long)c * H + ihb + kh * DH) * W + iwb + kw * DW;
            for (int e = 0; e < nv; ++e) {
                out[e] = (CT)img[off];
                NEXT_TAP(off);
            }
        } else {
            for (int e = 0; e < nv; ++e) {
                const int ih = ihb + kh * DH, iw = iwb + kw * DW;
                out[e] = ih >= 0 && ih < H && iw >= 0 && iw < W ?
                    (CT)img[((long)c * H + ih) * W + iw] : (CT)0;
                if (++kw == KW) {
                    kw = 0;
                    if (++kh == KH) {
                        kh = 0;
                        ++c;
                    }
                }
            }
        }
        for (int e = nv; e < NR; ++e)
            out[e] = (CT)0;
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                ++b;
            }
        }
    }
}

/* *acc = image row ih's 8 values at row[ow .. ow + 7] plus what it takes there from the cols
 * of kernel rows kh0 .. kh1 - 1 of one kernel column (`tap`: that tap row of the first
 * channel). Written through a pointer: a double8 returned by value breaks pocl's ABI. */
inline void col2im_add8(CT8 *acc, __global const T *row, __global const T *tap, const int ih,
                        const int ow, const int kh0, const int kh1, const long ncols,
                        const int PH, const int DH, const int SH, const int KW, const int OW)
{
    CT8 a = (CT8)0;
    for (int kh = kh0; kh < kh1; ++kh) {
        const int t = ih + PH - kh * DH;
        if (SH == 1)
            a += LOAD8(tap + kh * KW * ncols + t * OW + ow);
        else if (t % SH == 0)
            a += LOAD8(tap + kh * KW * ncols + t / SH * OW + ow);
    }
    *acc = LOAD8(row + ow) + a;
}

__kernel void KN(col2im)(__global const T *restrict cols, __global T *restrict dx,
                         const long dx_off, __global const T *restrict bias,
                         const long bias_off, const int has_bias, GEOM_ARGS, const int nb)
{
    const long id = get_global_id(0);
    if (id >= (long)nb * C * H) return;
    const int ih = id % H, c = (id / H) % C, b = id / ((long)H * C);
    __global T *dst = dx + dx_off + id * W;
    fill_run(dst, has_bias ? bias[bias_off + c] : (T)0, W);
    const long ncols = (long)nb * OH * OW;
    __global const T *base = cols + (long)c * KH * KW * ncols + (long)b * OH * OW;
    /* kernel rows kh whose output row oh reads ih: t = ih + PH - kh * DH = oh * SH */
    int kh0 = 0, kh1 = KH;
    while (kh0 < kh1 && ih + PH - kh0 * DH >= OH * SH)
        ++kh0;
    while (kh1 > kh0 && ih + PH - (kh1 - 1) * DH < 0)
        --kh1;
    for (int kw = 0; kw < KW; ++kw) {
        const int iw0 = kw * DW - PW;
        const int2 span = col_range(iw0, SW, W, OW);
        __global T *row = dst + iw0;
        __global const T *tap = base + kw * ncols;
        if (SW == 1 && span.y - span.x >= 8) {
            /* sum the kernel rows' segments in registers, then add to the image row once
             * (memory updates of overlapping segments stall store forwarding); the last 8
             * columns are summed first and stored last, over the vector before them */
            CT8 last, acc;
            col2im_add8(&last, row, tap, ih, span.y - 8, kh0, kh1, ncols, PH, DH, SH, KW, OW);
            for (int ow = span.x; ow + 8 < span.y; ow += 8) {
                col2im_add8(&acc, row, tap, ih, ow, kh0, kh1, ncols, PH, DH, SH, KW, OW);
                STORE8(row + ow, acc);
            }
            STORE8(row + span.y - 8, last);
        } else if (SW == 1) {
            for (int ow = span.x; ow < span.y; ++ow) {
                CT acc = (CT)0;
                for (int kh = kh0; kh < kh1; ++kh) {
                    const int t = ih + PH - kh * DH;
                    if (SH == 1)
                        acc += (CT)tap[kh * KW * ncols + t * OW + ow];
                    else if (t % SH == 0)
                        acc += (CT)tap[kh * KW * ncols + t / SH * OW + ow];
                }
                row[ow] = (T)((CT)row[ow] + acc);
            }
        } else {
            for (int kh = kh0; kh < kh1; ++kh) {
                const int t = ih + PH - kh * DH;
                if (t % SH)
                    continue;
                __global const T *src = tap + kh * KW * ncols + t / SH * OW;
                for (int ow = span.x; ow < span.y; ++ow)
                    row[ow * SW] = (T)((CT)row[ow * SW] + (CT)src[ow]);
            }
        }
    }
}

__kernel void KN(rows_copy)(__global const T *src, const long src_off, __global T *dst,
                            const long dst_off, __global const T *bias, const long bias_off,
                            const int has_bias,
                            const long NO, const long NI, const long so, const long si,
                            const long len)
{
    const long id = get_global_id(0);
    if (id >= NO * NI) return;
    const long o = id / NI, i = id % NI;
    __global T *d = dst + dst_off + id * len;
    __global const T *s = src + src_off + o * so + i * si;
    if (has_bias)
        copy_add_run(d, s, len, (CT)bias[bias_off + i]);
    else
        copy_run(d, s, len);
}

/* DST[0], DST[STRIDE], ..., DST[(N - 1) * STRIDE] = the first N lanes of VAL (N <= 8); a
 * macro: a double8 function argument changes pocl's ABI */
#define STORE_LANES(DST, STRIDE, VAL, N) do {                                   \
        union { CT8 v; CT s[8]; } u_;                                           \
        u_.v = (VAL);                                                           \
        for (int e_ = 0; e_ < (N); ++e_)                                        \
            (DST)[e_ * (STRIDE)] = (T)u_.s[e_];                                 \
    } while (0)

#define EDGE_SPAN 24  /* widest dilated kernel row (minus one) edge_block pads for */
typedef CT8 ct8u_priv __attribute__((aligned(sizeof(CT))));

/* dst[ob .. ob + 7] (fewer when OW < 8) of a one-filter stride-1 output row: each kernel
 * row's image values are copied, zero outside the image, into a private row that every
 * tap then reads as one vector. `base` is the image row of kernel row 0, at column -PW. */
inline void edge_block(__global const T *base, __global const T *w0, const CT bias,
                       __global T *dst, const int ob, const int kh0, const int kh1,
                       const int W, const int OW, const int KW, const int DH, const int DW,
                       const int PW)
{
    CT8 acc = (CT8)bias;
    for (int kh = kh0; kh < kh1; ++kh) {
        CT r[8 + EDGE_SPAN];
        __global const T *row = base + kh * DH * W + ob;
        for (int i = 0; i < 8 + (KW - 1) * DW; ++i) {
            const int iw = ob - PW + i;
            r[i] = iw >= 0 && iw < W ? (CT)row[i] : (CT)0;
        }
        for (int kw = 0; kw < KW; ++kw)
            acc += (CT)w0[kh * KW + kw] * *(ct8u_priv *)(r + kw * DW);
    }
    if (OW >= 8)
        STORE8(dst + ob, acc);
    else
        STORE_LANES(dst, 1, acc, OW);
}

#define MAX_KH 32  /* kernel rows conv_one_t follows per image row */

__kernel void KN(conv_one_t)(__global const T *restrict dy, const long dy_off,
                             __global const T *restrict w, const long w_off,
                             __global const T *restrict bias, const long bias_off,
                             const int has_bias, __global T *restrict dx, const long dx_off,
                             GEOM_ARGS, const int N)
{
    const int id = (int)get_global_id(0);
    if (id >= N * C * H) return;
    const int ih = id % H, c = id / H % C, n = id / (H * C);
    /* the kernel rows reaching image row ih, and the dy row each reads */
    int khs[MAX_KH], ohs[MAX_KH], nk = 0;
    for (int kh = 0; kh < KH; ++kh) {
        const int t = ih + PH - kh * DH;
        if (t >= 0 && t % SH == 0 && t / SH < OH) {
            khs[nk] = kh;
            ohs[nk++] = t / SH;
        }
    }
    __global const T *g = dy + dy_off + ((long)n * C + c) * OH * OW;
    __global const T *wc = w + w_off + (long)c * KH * KW;
    __global T *row = dx + dx_off + (((long)n * C + c) * H + ih) * W;
    const CT b = has_bias ? (CT)bias[bias_off + c] : (CT)0;
    for (int r = 0; r < SW; ++r) {
        const int nj = (W - r + SW - 1) / SW;  /* columns iw = r + SW * j of this phase */
        for (int j0 = 0; j0 < nj; j0 += 8) {
            CT8 acc = (CT8)b;
            for (int i = 0; i < nk; ++i) {
                __global const T *grow = g + ohs[i] * OW;
                __global const T *wr = wc + khs[i] * KW;
                for (int kw = 0; kw < KW; ++kw) {
                    const int t = r + PW - kw * DW;  /* ow * SW = SW * j + t */
                    if (t % SW)
                        continue;
                    const int lo = j0 + t / SW;
                    if (lo >= 0 && lo + 8 <= OW) {
                        acc += (CT)wr[kw] * LOAD8(grow + lo);
                    } else {
                        CT t[8];
                        for (int e = 0; e < 8; ++e)
                            t[e] = lo + e >= 0 && lo + e < OW ? (CT)grow[lo + e] : (CT)0;
                        acc += (CT)wr[kw] * CT8_OF(t);
                    }
                }
            }
            if (SW == 1 && j0 + 8 <= nj)
                STORE8(row + j0, acc);
            else
                STORE_LANES(row + r + SW * j0, SW, acc, min(8, nj - j0));
        }
    }
}

__kernel void KN(conv_one)(__global const T *restrict x, const long x_off,
                           __global const T *restrict w, const long w_off,
                           __global const T *restrict bias, const long bias_off,
                           const int has_bias, __global T *restrict y, const long y_off,
                           GEOM_ARGS, const int F, const int FG, const int N)
{
    /* a work-item computes output row oh of up to 4 filters of one group, which share the
     * input loads */
    const int FB = (FG + 3) / 4, blocks = F / FG * FB;
    const long id = get_global_id(0);
    if (id >= (long)N * blocks * OH) return;
    const int oh = id % OH, q = (id / OH) % blocks, n = id / ((long)OH * blocks);
    const int f0 = q / FB * FG + q % FB * 4, nf = min(4, (q / FB + 1) * FG - f0);
    __global const T *img = x + x_off + ((long)n * C + f0 / FG) * H * W;
    const int KK = KH * KW;
    __global const T *w0 = w + w_off + f0 * KK;
    /* filters past nf repeat the last one: computed, never stored */
    __global const T *w1 = w0 + min(1, nf - 1) * KK, *w2 = w0 + min(2, nf - 1) * KK;
    __global const T *w3 = w0 + (nf - 1) * KK;
    __global T *dst = y + y_off + ((long)n * F + f0) * OH * OW + oh * OW;
    CT b[4];
    for (int i = 0; i < 4; ++i)
        b[i] = has_bias ? (CT)bias[bias_off + f0 + min(i, nf - 1)] : (CT)0;
    /* kernel rows inside the image, and the columns every tap reads inside it */
    int kh0 = 0, kh1 = KH;
    while (kh0 < kh1 && oh * SH - PH + kh0 * DH < 0)
        ++kh0;
    while (kh1 > kh0 && oh * SH - PH + (kh1 - 1) * DH >= H)
        --kh1;
    const int lo = col_range(-PW, SW, W, OW).x;
    const int hi = max(lo, col_range((KW - 1) * DW - PW, SW, W, OW).y);
    __global const T *base = img + (oh * SH - PH) * W - PW;
    int ow = 0;
    if (SW == 1 && nf == 1 && (KW - 1) * DW <= EDGE_SPAN) {
        /* one filter (depthwise): one sum per column run; the edges as 8-column blocks over
         * zero-padded copies of the rows (a block of fewer columns when OW < 8) */
        for (ow = lo; ow + 8 <= hi; ow += 8) {
            CT8 a0 = (CT8)b[0];
            for (int kh = kh0; kh < kh1; ++kh) {
                __global const T *row = base + kh * DH * W + ow;
                for (int kw = 0; kw < KW; ++kw)
                    a0 += (CT)w0[kh * KW + kw] * LOAD8(row + kw * DW);
            }
            STORE8(dst + ow, a0);
        }
        /* left blocks cover [0, left); the last block of each side ends at OW */
        const int right = max(0, OW - 8), left = lo > 0 ? min(OW, (lo + 7) / 8 * 8) : 0;
        for (int ob = 0; ob < lo; ob += 8)
            edge_block(base, w0, b[0], dst, min(ob, right), kh0, kh1, W, OW, KW, DH, DW, PW);
        for (int ob = max(ow, left); ob < OW; ob += 8)
            edge_block(base, w0, b[0], dst, min(ob, right), kh0, kh1, W, OW, KW, DH, DW, PW);
        return;
    } else if (SW == 2 && nf == 1) {  /* depthwise at stride 2: every other column */
        /* the 16 values a load reads stay inside the image row (the last is not used) */
        for (ow = lo; ow + 8 <= hi && 2 * ow - PW + (KW - 1) * DW + 16 <= W; ow += 8) {
            CT8 a0 = (CT8)b[0];
            for (int kh = kh0; kh < kh1; ++kh) {
                __global const T *row = base + kh * DH * W + 2 * ow;
                for (int kw = 0; kw < KW; ++kw)
                    a0 += (CT)w0[kh * KW + kw] * LOAD8_EVEN(row + kw * DW);
            }
            STORE8(dst + ow, a0);
        }
    } else if (SW == 1) {
        for (ow = lo; ow + 8 <= hi; ow += 8) {
            CT8 a0 = (CT8)b[0], a1 = (CT8)b[1], a2 = (CT8)b[2], a3 = (CT8)b[3];
            for (int kh = kh0; kh < kh1; ++kh) {
                __global const T *row = base + kh * DH * W + ow;
                for (int kw = 0; kw < KW; ++kw) {
                    const CT8 v = LOAD8(row + kw * DW);
                    const int t = kh * KW + kw;
                    a0 += (CT)w0[t] * v;
                    a1 += (CT)w1[t] * v;
                    a2 += (CT)w2[t] * v;
                    a3 += (CT)w3[t] * v;
                }
            }
            STORE8(dst + ow, a0);
            if (nf > 1)
                STORE8(dst + OH * OW + ow, a1);
            if (nf > 2)
                STORE8(dst + 2 * OH * OW + ow, a2);
            if (nf > 3)
                STORE8(dst + 3 * OH * OW + ow, a3);
        }
    }
    /* the rest one by one: [0, lo) and [ow, OW), each column over the taps inside the image
     * (kw0 .. kw1 - 1) */
    for (int o = 0; o < OW; ++o) {
        if (o == lo)
            o = max(lo, ow);
        if (o >= OW)
            break;
        const int iw0 = o * SW - PW;
        const int kw0 = iw0 >= 0 ? 0 : min(KW, (-iw0 + DW - 1) / DW);
        const int kw1 = iw0 >= W ? kw0 : max(kw0, min(KW, (W - 1 - iw0) / DW + 1));
        for (int i = 0; i < nf; ++i) {
            __global const T *wf = w0 + i * KK;
            CT acc = b[i];
            for (int kh = kh0; kh < kh1; ++kh)
                for (int kw = kw0; kw < kw1; ++kw)
                    acc += (CT)wf[kh * KW + kw] * (CT)base[kh * DH * W + o * SW + kw * DW];
            dst[i * OH * OW + o] = (T)acc;
        }
    }
}

#ifdef WKW
/* wgrad_direct_SUFFIX (only with WKW = KW, the kernel width, and WFB defined): the weight
 * gradient without a column matrix, dw[f][cg][kh][kw] = the sum over images b < N and output
 * positions (oh, ow) of dy[b][f][oh][ow] * x[b][g * CG + cg][ih][iw] (g = f / FG, CG = C / G,
 * FG = F / G, image position as in the header). Launch (G * ceil(FG / WFB), CG, KH): work-item
 * (q, cg, kh) owns filters f0 .. f0 + WFB - 1 of one group and the WKW taps of kernel row kh,
 * summing 8 output columns at a time in WFB x WKW CT8 registers. Interior runs with stride
 * and dilation 1 load image rows as vectors; the rest gather lane by lane, zero outside. */
#define WUNROLL _Pragma("unroll")
__kernel void KN(wgrad_direct)(__global const T *restrict x, const long x_off,
                               __global const T *restrict dy, const long dy_off,
                               __global T *restrict dw, const long dw_off, GEOM_ARGS,
                               const int N, const int F, const int G)
{
    const int q = get_global_id(0), cg = get_global_id(1), kh = get_global_id(2);
    const int FG = F / G, CG = C / G, blocks = (FG + WFB - 1) / WFB, g = q / blocks;
    if (g >= G || cg >= CG || kh >= KH) return;
    const int f0 = g * FG + (q % blocks) * WFB, nf = min(WFB, g * FG + FG - f0);
    const long plane = (long)OH * OW;
    CT8 acc[WFB][WKW];
    WUNROLL for (int i = 0; i < WFB; ++i)
        WUNROLL for (int k = 0; k < WKW; ++k) acc[i][k] = (CT8)0;
    for (int b = 0; b < N; ++b) {
        __global const T *img = x + x_off + ((long)b * C + g * CG + cg) * H * W;
        __global const T *dyb = dy + dy_off + ((long)b * F + f0) * plane;
        for (int oh = 0; oh < OH; ++oh) {
            const int ih = oh * SH - PH + kh * DH;
            if (ih < 0 || ih >= H)
                continue;
            __global const T *xr = img + (long)ih * W, *dr = dyb + (long)oh * OW;
            for (int ow = 0; ow < OW; ow += 8) {
                const int whole = ow + 8 <= OW, iw0 = ow * SW - PW;
                CT8 d[WFB];
                WUNROLL for (int i = 0; i < WFB; ++i) {
                    if (whole) {
                        d[i] = i < nf ? LOAD8(dr + i * plane + ow) : (CT8)0;
                    } else {
                        CT t[8];
                        WUNROLL for (int e = 0; e < 8; ++e)
                            t[e] = i < nf && ow + e < OW ? (CT)dr[i * plane + ow + e] : (CT)0;
                        d[i] = CT8_OF(t);
                    }
                }
                if (whole && SW == 1 && DW == 1 && iw0 >= 0 && iw0 + 7 + WKW - 1 < W) {
                    WUNROLL for (int k = 0; k < WKW; ++k) {
                        const CT8 xv = LOAD8(xr + iw0 + k);
                        WUNROLL for (int i = 0; i < WFB; ++i) acc[i][k] = d[i] * xv + acc[i][k];
                    }
                } else {
                    WUNROLL for (int k = 0; k < WKW; ++k) {
                        CT t[8];
                        WUNROLL for (int e = 0; e < 8; ++e) {
                            const int iw = (ow + e) * SW - PW + k * DW;
                            t[e] = ow + e < OW && iw >= 0 && iw < W ? (CT)xr[iw] : (CT)0;
                        }
                        const CT8 xv = CT8_OF(t);
                        WUNROLL for (int i = 0; i < WFB; ++i) acc[i][k] = d[i] * xv + acc[i][k];
                    }
                }
            }
        }
    }
    WUNROLL for (int i = 0; i < WFB; ++i) {
        WUNROLL for (int k = 0; k < WKW; ++k) {
            const CT8 a = acc[i][k];
            if (i < nf)
                dw[dw_off + (((long)(f0 + i) * CG + cg) * KH + kh) * WKW + k] =
                    (T)(((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7)));
        }
    }
}
#endif
