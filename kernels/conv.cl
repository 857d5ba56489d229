/* Convolution lowering (im2col / col2im, row copies) and pooling over dense NCHW arrays; 1-D
 * (NCW) runs as H = OH = KH = 1. One program per dtype holds every kernel.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         element type
 *   CT        compute type (float for half, else T)
 *   T_LOWEST  start value of a max: the lowest finite T (MXNet's MinValue)
 *   SUFFIX    dtype suffix of the kernel names, e.g. f32
 *
 * Geometry (int arguments, so one build serves every shape): C channels of the image side,
 * H x W its size, OH x OW the output side, KH x KW kernel, SH SW stride, PH PW padding,
 * DH DW dilation. Output position (oh, ow) and kernel tap (kh, kw) read image position
 * (oh * SH - PH + kh * DH, ow * SW - PW + kw * DW); outside the image it reads zero.
 * Offsets into buffers are long; indices inside one image are int.
 *
 * Kernels (every launch is rounded up to the local size and guarded):
 *   im2col_SUFFIX   cols[r][b * OH * OW + oh * OW + ow] = x[b][c][ih][iw] for tap row
 *                   r = (c * KH + kh) * KW + kw and image b < nb (a chunk of the batch at
 *                   x + x_off): the (C*KH*KW) x (nb*OH*OW) matrix a convolution multiplies.
 *                   Launch (nb, C*KH): work-item (b, c * KH + kh) writes the KW runs of
 *                   OH*OW values of its taps; neighbouring work-items write neighbouring
 *                   runs.
 *   col2im_SUFFIX   the transpose, as a gather: dx[b][c][ih][iw] = bias[c] (when has_bias)
 *                   plus the cols entries whose tap reads (ih, iw). A work-item owns one
 *                   image row (b, c, ih): it initialises the row, then adds each contributing
 *                   cols row segment, so nothing is written twice at once (no atomics).
 *                   Launch (nb * C * H).
 *   rows_copy_SUFFIX  dst[dst_off + (o * NI + i) * len + s] = src[src_off + o * so + i * si
 *                   + s] (+ bias[i] when has_bias) for o < NO, i < NI, s < len: moves
 *                   (F, nb, HW) products into NCHW and back. src may be dst (in place).
 *                   Launch (NO * NI): a work-item copies one run of len.
 *   pool_fwd_SUFFIX y[nc][oh][ow] over windows KH x KW: type 0 max (padding never wins),
 *                   1 average (divided by the window clipped to the padded image, or to the
 *                   image when include_pad == 0), 2 sum. Launch (NC * OH): a work-item writes
 *                   one output row.
 *   pool_bwd_SUFFIX dx[nc][ih][iw] = sum over the windows holding (ih, iw) of dy, divided as
 *                   the forward did (average), or only where (ih, iw) is the window's first
 *                   maximum in row-major order (max; recomputed from x, as MXNet routes it).
 *                   Launch (NC * H), a work-item owning one image row, or with bands != 0
 *                   (needs SH >= KH) (NC * OH), a work-item owning output row oh's band of
 *                   image rows, so each window is scanned once.
 */
#ifndef T
#define T float
#define CT float
#define T_LOWEST (-FLT_MAX)
#define SUFFIX f32
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

#define GEOM_ARGS const int C, const int H, const int W, const int OH, const int OW, \
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW, \
    const int DH, const int DW

/* [lo, hi): the output columns ow whose image column ow * SW + iw0 lies in [0, W) */
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

__kernel void KN(im2col)(__global const T *restrict x, const long x_off,
                         __global T *restrict cols, GEOM_ARGS, const int nb)
{
    const int b = get_global_id(0), q = get_global_id(1);  /* q = c * KH + kh */
    if (b >= nb) return;
    const int kh = q % KH, c = q / KH;
    const long ncols = (long)nb * OH * OW;
    __global const T *img = x + x_off + ((long)b * C + c) * H * W;
    for (int kw = 0; kw < KW; ++kw) {
        __global T *dst = cols + (q * KW + kw) * ncols + (long)b * OH * OW;
        const int iw0 = kw * DW - PW;
        const int2 span = col_range(iw0, SW, W, OW);
        for (int oh = 0; oh < OH; ++oh, dst += OW) {
            const int ih = oh * SH - PH + kh * DH;
            if (ih < 0 || ih >= H) {
                for (int ow = 0; ow < OW; ++ow)
                    dst[ow] = (T)0;
                continue;
            }
            __global const T *src = img + ih * W + iw0;
            for (int ow = 0; ow < span.x; ++ow)
                dst[ow] = (T)0;
            if (SW == 1) {
                for (int ow = span.x; ow < span.y; ++ow)
                    dst[ow] = src[ow];
            } else {
                for (int ow = span.x; ow < span.y; ++ow)
                    dst[ow] = src[ow * SW];
            }
            for (int ow = span.y; ow < OW; ++ow)
                dst[ow] = (T)0;
        }
    }
}

__kernel void KN(col2im)(__global const T *restrict cols, __global T *restrict dx,
                         const long dx_off, __global const T *restrict bias,
                         const long bias_off, const int has_bias, GEOM_ARGS, const int nb)
{
    const long id = get_global_id(0);
    if (id >= (long)nb * C * H) return;
    const int ih = id % H, c = (id / H) % C, b = id / ((long)H * C);
    __global T *dst = dx + dx_off + id * W;
    const T init = has_bias ? bias[bias_off + c] : (T)0;
    for (int iw = 0; iw < W; ++iw)
        dst[iw] = init;
    const long ncols = (long)nb * OH * OW;
    __global const T *base = cols + (long)c * KH * KW * ncols + (long)b * OH * OW;
    for (int kw = 0; kw < KW; ++kw) {
        const int iw0 = kw * DW - PW;
        const int2 span = col_range(iw0, SW, W, OW);
        __global T *row = dst + iw0;
        for (int kh = 0; kh < KH; ++kh) {
            const int t = ih + PH - kh * DH;  /* = oh * SH for the output row reading ih */
            if (t < 0)
                break;  /* t only decreases with kh */
            const int oh = SH == 1 ? t : t / SH;
            if (oh >= OH || (SH != 1 && oh * SH != t))
                continue;
            __global const T *src = base + (kh * KW + kw) * ncols + oh * OW;
            if (SW == 1) {
                for (int ow = span.x; ow < span.y; ++ow)
                    row[ow] = (T)((CT)row[ow] + (CT)src[ow]);
            } else {
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
    __global const T *s = src + src_off + o * so + i * si;
    __global T *d = dst + dst_off + id * len;
    if (has_bias) {
        const CT add = (CT)bias[bias_off + i];
        for (long e = 0; e < len; ++e)
            d[e] = (T)((CT)s[e] + add);
    } else {
        for (long e = 0; e < len; ++e)
            d[e] = s[e];
    }
}

/* Rows [*lo, *hi) of the window starting at `start` clipped to [0, size); returns the
 * window's extent clipped to the padded image (the average's divisor with padding) */
inline int window(const int start, const int K, const int size, const int pad, int *lo,
                  int *hi)
{
    const int end = min(start + K, size + pad);
    *lo = max(start, 0);
    *hi = min(end, size);
    return end - start;
}

__kernel void KN(pool_fwd)(__global const T *restrict x, const long x_off,
                           __global T *restrict y, const long y_off, const long NC,
                           const int H, const int W, const int OH, const int OW, const int KH,
                           const int KW, const int SH, const int SW, const int PH, const int PW,
                           const int type, const int include_pad)
{
    /* the output row accumulates in place, one kernel column at a time, so the inner loops
     * walk ow with no per-window bounds */
    const long id = get_global_id(0);
    if (id >= NC * OH) return;
    const int oh = id % OH;
    __global const T *src = x + x_off + (id / OH) * H * W;
    __global T *dst = y + y_off + id * OW;
    int h0, h1;
    const int hext = window(oh * SH - PH, KH, H, PH, &h0, &h1);
    const T init = type == 0 ? (T)T_LOWEST : (T)0;
    for (int ow = 0; ow < OW; ++ow)
        dst[ow] = init;
    for (int h = h0; h < h1; ++h) {
        for (int kw = 0; kw < KW; ++kw) {
            const int iw0 = kw - PW;
            const int2 span = col_range(iw0, SW, W, OW);
            __global const T *row = src + h * W + iw0;
            if (type == 0) {
                for (int ow = span.x; ow < span.y; ++ow) {
                    const T v = row[ow * SW];
                    dst[ow] = v > dst[ow] ? v : dst[ow];
                }
            } else {
                for (int ow = span.x; ow < span.y; ++ow)
                    dst[ow] = (T)((CT)dst[ow] + (CT)row[ow * SW]);
            }
        }
    }
    if (type == 1) {
        for (int ow = 0; ow < OW; ++ow) {
            int w0, w1;
            const int wext = window(ow * SW - PW, KW, W, PW, &w0, &w1);
            const int size = include_pad ? hext * wext : (h1 - h0) * (w1 - w0);
            dst[ow] = size > 0 ? (T)((CT)dst[ow] / (CT)size) : (T)0;
        }
    }
}

__kernel void KN(pool_bwd)(__global const T *restrict dy, const long dy_off,
                           __global const T *restrict x, const long x_off,
                           __global T *restrict dx, const long dx_off, const long NC,
                           const int H, const int W, const int OH, const int OW, const int KH,
                           const int KW, const int SH, const int SW, const int PH, const int PW,
                           const int type, const int include_pad, const int bands)
{
    /* A work-item owns image rows [r0, r1) of one channel and visits the output rows
     * [oh0, oh1) whose windows reach them; it writes only its own rows. bands == 0: one
     * image row, visiting every window that holds it. bands != 0 (windows never share a
     * row, SH >= KH): output row oh's stride-tall band, so each window is visited once. */
    const long id = get_global_id(0);
    const int units = bands ? OH : H;
    if (id >= NC * units) return;
    const int u = id % units;
    const long nc = id / units;
    int r0, r1, oh0, oh1;
    if (bands) {
        r0 = u == 0 ? 0 : min(max(u * SH - PH, 0), H);
        r1 = u == OH - 1 ? H : min(max((u + 1) * SH - PH, 0), H);
        oh0 = u;
        oh1 = u + 1;
    } else {
        /* output rows whose window holds u: oh * SH - PH <= u < oh * SH - PH + KH */
        const int t = u + PH - KH + 1;
        r0 = u;
        r1 = u + 1;
        oh0 = t <= 0 ? 0 : (t + SH - 1) / SH;
        oh1 = min(OH, (u + PH) / SH + 1);
    }
    __global const T *src = x + x_off + nc * H * W;
    __global const T *g = dy + dy_off + nc * OH * OW;
    __global T *dst = dx + dx_off + nc * H * W;
    for (int h = r0; h < r1; ++h)
        for (int w = 0; w < W; ++w)
            dst[h * W + w] = (T)0;
    for (int oh = oh0; oh < oh1; ++oh) {
        int h0, h1;
        const int hext = window(oh * SH - PH, KH, H, PH, &h0, &h1);
        for (int ow = 0; ow < OW; ++ow) {
            int w0, w1;
            const int wext = window(ow * SW - PW, KW, W, PW, &w0, &w1);
            if (w1 <= w0 || h1 <= h0)
                continue;
            const CT gv = (CT)g[oh * OW + ow];
            if (type == 0) {
                /* the first maximum wins (strict >), as MXNet's forward keeps it */
                CT best = (CT)T_LOWEST;
                int at = -1;
                for (int h = h0; h < h1; ++h) {
                    for (int w = w0; w < w1; ++w) {
                        const CT v = (CT)src[h * W + w];
                        if (v > best) {
                            best = v;
                            at = h * W + w;
                        }
                    }
                }
                if (at >= r0 * W && at < r1 * W)
                    dst[at] = (T)((CT)dst[at] + gv);
            } else {
                CT v = gv;
                if (type == 1) {
                    const int size = include_pad ? hext * wext : (h1 - h0) * (w1 - w0);
                    v = size > 0 ? gv / (CT)size : (CT)0;
                }
                for (int h = max(h0, r0); h < min(h1, r1); ++h)
                    for (int w = w0; w < w1; ++w)
                        dst[h * W + w] = (T)((CT)dst[h * W + w] + v);
            }
        }
    }
}
