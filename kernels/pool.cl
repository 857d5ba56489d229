/* Pooling (max, average, sum) over dense NCHW arrays, forward and backward; 1-D (NCW) runs
 * as H = OH = KH = 1. One program per dtype holds both kernels.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T         element type
 *   CT        compute type (float for half, else T)
 *   HALF      1 when T is half (vectors then convert to CT and back), else 0
 *   CI        integer type of CT's width (int for float, long for double): vector masks
 *   T_LOWEST  start value of a max: the lowest finite T (MXNet's MinValue)
 *   SUFFIX    dtype suffix of the kernel names, e.g. f32
 *
 * Geometry (int arguments, so one build serves every shape): NC images of H x W (batch times
 * channels), output OH x OW, window KH x KW, stride SH SW, padding PH PW; type 0 max (padding
 * never wins), 1 average (divided by the window clipped to the padded image, or to the image
 * when include_pad == 0), 2 sum. Window (oh, ow) covers image rows [oh * SH - PH, + KH) and
 * columns [ow * SW - PW, + KW).
 *
 * Windows of two columns with stride two and no column padding (2x2 stride 2, the common
 * case) run four at a time on 8-vectors of image columns (any element offset), up to the last
 * four that fit in the row; the remaining columns take the scalar path.
 *
 * Kernels (every launch is rounded up to the local size and guarded):
 *   pool_fwd_SUFFIX y[nc][oh][ow] over the windows. Launch (NC * OH): a work-item writes one
 *                   output row.
 *   pool_bwd_SUFFIX dx[nc][ih][iw] = sum over the windows holding (ih, iw) of dy, divided as
 *                   the forward did (average), or only where (ih, iw) is the window's first
 *                   maximum in row-major order (max; recomputed from x, as MXNet routes it).
 *                   Launch (NC * H), a work-item owning one image row, or with bands != 0
 *                   (needs SH >= KH) (NC * OH), a work-item owning output row oh's band of
 *                   image rows, so each window is scanned once; the vector columns of a band
 *                   are written once each, with no zero-fill pass.
 */
#ifndef T
#define T float
#define CT float
#define HALF 0
#define CI int
#define T_LOWEST (-FLT_MAX)
#define SUFFIX f32
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)
#define PASTE_(a, b) a##b
#define PASTE(a, b) PASTE_(a, b)
#define T4 PASTE(T, 4)
#define T8 PASTE(T, 8)
#define CT4 PASTE(CT, 4)
#define CT8 PASTE(CT, 8)
#define CI4 PASTE(CI, 4)

/* vectors at any element offset: the vector types with the element's alignment */
typedef T4 vec4u __attribute__((aligned(sizeof(T))));
typedef T8 vec8u __attribute__((aligned(sizeof(T))));
/* vectors convert only for half: convert_ calls on double8 break pocl's ABI */
#if HALF
#define TO_CT4(v) convert_float4(v)
#define TO_T4(v) convert_half4(v)
#define TO_CT8(v) convert_float8(v)
#define TO_T8(v) convert_half8(v)
#else
#define TO_CT4(v) (v)
#define TO_T4(v) (v)
#define TO_CT8(v) (v)
#define TO_T8(v) (v)
#endif
#define LOAD4(p) TO_CT4(*(__global const vec4u *)(p))
#define LOAD8(p) TO_CT8(*(__global const vec8u *)(p))
#define STORE4(p, v) (*(__global vec4u *)(p) = TO_T4(v))
#define STORE8(p, v) (*(__global vec8u *)(p) = TO_T8(v))
/* (a0, b0, a1, b1, ...): the two columns of four windows back in image order */
#define ZIP(a, b) ((CT8)((a).s0, (b).s0, (a).s1, (b).s1, (a).s2, (b).s2, (a).s3, (b).s3))

#define POOL_ARGS const long NC, const int H, const int W, const int OH, const int OW, \
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW, \
    const int type, const int include_pad

/* [lo, hi): the output columns ow whose image column ow * SW + iw0 lies in [0, W) */
inline int2 col_range(const int iw0, const int SW, const int W, const int OW)
{
    int lo, hi;
    if (SW == 1) {
        lo = max(-iw0, 0);
        hi = W - iw0;
    } else {
        lo = iw0 >= 0 ? 0 : (SW - 1 - iw0) / SW;
        hi = iw0 > W - 1 ? 0 : (W - 1 - iw0) / SW + 1;
    }
    lo = min(lo, OW);
    return (int2)(lo, clamp(hi, lo, OW));
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

/* Windows [0, n) take the vector path: a multiple of 4 whose columns all lie in the row */
inline int vector_windows(const int W, const int OW, const int KW, const int SW, const int PW)
{
    return KW == 2 && SW == 2 && PW == 0 ? min(OW, W / 2) / 4 * 4 : 0;
}

__kernel void KN(pool_fwd)(__global const T *restrict x, const long x_off,
                           __global T *restrict y, const long y_off, POOL_ARGS)
{
    const long id = get_global_id(0);
    if (id >= NC * OH) return;
    const int oh = id % OH;
    __global const T *src = x + x_off + (id / OH) * H * W;
    __global T *dst = y + y_off + id * OW;
    int h0, h1;
    const int hext = window(oh * SH - PH, KH, H, PH, &h0, &h1);
    const int nv = vector_windows(W, OW, KW, SW, PW);
    const int size = include_pad ? hext * 2 : (h1 - h0) * 2;  /* of a whole-row window */
    for (int ow = 0; ow < nv; ow += 4) {
        CT8 acc = type == 0 ? (CT8)T_LOWEST : (CT8)0;
        for (int h = h0; h < h1; ++h) {
            const CT8 v = LOAD8(src + h * W + 2 * ow);
            acc = type == 0 ? (v > acc ? v : acc) : acc + v;
        }
        const CT4 a = acc.even, b = acc.odd;
        CT4 out;
        if (type == 0)
            out = b > a ? b : a;
        else
            out = type == 2 ? a + b : size > 0 ? (a + b) / (CT)size : (CT4)0;
        STORE4(dst + ow, out);
    }
    if (nv == OW)
        return;  /* every column done; skips the divisions of col_range */
    /* the remaining columns: the output row accumulates in place, one kernel column at a
     * time, so the inner loops walk ow with no per-window bounds */
    const T init = type == 0 ? (T)T_LOWEST : (T)0;
    for (int ow = nv; ow < OW; ++ow)
        dst[ow] = init;
    for (int h = h0; h < h1; ++h) {
        for (int kw = 0; kw < KW; ++kw) {
            const int iw0 = kw - PW;
            const int2 span = col_range(iw0, SW, W, OW);
            __global const T *row = src + h * W + iw0;
            const int lo = max(span.x, nv);
            if (type == 0) {
                for (int ow = lo; ow < span.y; ++ow) {
                    const T v = row[ow * SW];
                    dst[ow] = v > dst[ow] ? v : dst[ow];
                }
            } else {
                for (int ow = lo; ow < span.y; ++ow)
                    dst[ow] = (T)((CT)dst[ow] + (CT)row[ow * SW]);
            }
        }
    }
    if (type == 1) {
        for (int ow = nv; ow < OW; ++ow) {
            int w0, w1;
            const int wext = window(ow * SW - PW, KW, W, PW, &w0, &w1);
            const int size = include_pad ? hext * wext : (h1 - h0) * (w1 - w0);
            dst[ow] = size > 0 ? (T)((CT)dst[ow] / (CT)size) : (T)0;
        }
    }
}

__kernel void KN(pool_bwd)(__global const T *restrict dy, const long dy_off,
                           __global const T *restrict x, const long x_off,
                           __global T *restrict dx, const long dx_off, POOL_ARGS,
                           const int bands)
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
    /* vector windows [0, nv) own image columns [0, 2 * nv) of the band: each element is
     * written once, zero where no window routes to it */
    const int nv = bands ? vector_windows(W, OW, KW, SW, PW) : 0;
    if (nv) {
        int h0, h1;
        const int hext = window(u * SH - PH, KH, H, PH, &h0, &h1);
        const int size = include_pad ? hext * 2 : (h1 - h0) * 2;
        for (int ow = 0; ow < nv; ow += 4) {
            const CT4 gv = LOAD4(g + u * OW + ow);
            if (type == 0) {
                /* the first maximum wins (strict >, row-major), as MXNet's forward keeps it:
                 * `at` is 2 * row + column of each window's winner, -1 for none */
                CT4 best = (CT4)T_LOWEST;
                CI4 at = (CI4)(-1);
                for (int h = h0; h < h1; ++h) {
                    const CT8 v = LOAD8(src + h * W + 2 * ow);
                    const CT4 a = v.even, b = v.odd;
                    CI4 win = a > best;
                    best = win ? a : best;
                    at = win ? (CI4)(2 * h) : at;
                    win = b > best;
                    best = win ? b : best;
                    at = win ? (CI4)(2 * h + 1) : at;
                }
                for (int h = r0; h < r1; ++h) {
                    const CT4 e = at == (CI4)(2 * h) ? gv : (CT4)0;
                    const CT4 o = at == (CI4)(2 * h + 1) ? gv : (CT4)0;
                    STORE8(dst + h * W + 2 * ow, ZIP(e, o));
                }
            } else {
                const CT4 v = type == 2 ? gv : size > 0 ? gv / (CT)size : (CT4)0;
                for (int h = r0; h < r1; ++h)
                    STORE8(dst + h * W + 2 * ow, h >= h0 && h < h1 ? ZIP(v, v) : (CT8)0);
            }
        }
    }
    if (2 * nv == W && nv == OW)
        return;  /* every column done */
    /* the remaining columns: zero, then add each window's share */
    const int c0 = 2 * nv;
    for (int h = r0; h < r1; ++h)
        for (int w = c0; w < W; ++w)
            dst[h * W + w] = (T)0;
    for (int oh = oh0; oh < oh1; ++oh) {
        int h0, h1;
        const int hext = window(oh * SH - PH, KH, H, PH, &h0, &h1);
        for (int ow = nv; ow < OW; ++ow) {
            int w0, w1;
            const int wext = window(ow * SW - PW, KW, W, PW, &w0, &w1);
            if (w1 <= w0 || h1 <= h0)
                continue;
            const CT gv = (CT)g[oh * OW + ow];
            if (type == 0) {
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
