/* GEMM: C = alpha * op(A) * op(B) + beta * C, batched, any shape, any transpose.
 *
 * op(A) is M x K and op(B) is K x N; each is read through (row stride, column stride) in
 * elements, so a transpose is a swap of strides and no operand is copied first. Each operand
 * has a batch stride (0 repeats one matrix for every batch). C is row-major with row stride
 * ldc and a batch stride.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T       element type of A, B and C (float, double, half)
 *   CT      compute type of packed panels and accumulators (float for half)
 *   CTV     vector of VW CT values (float8): B panels are read through a CTV pointer
 *   VW      vector width of CTV
 *   MR      rows of C in a register block
 *   NV      CTV vectors per register-block row, so a block is MR x NR, NR = NV * VW
 *   KU      k values in one unrolled tile of the pack kernels
 *   NJ      columns of C per work-item of the GEMV kernel (default 4)
 *   VSTORE  1 when T == CT: aligned full blocks of C are read and written as CTV
 *   PACK_AT, PACK_BT  (optional) the CT vector of MR, of NR values: defined when T == CT,
 *           KU == VW and the width is 2, 4, 8 or 16; full pack tiles then move as vectors
 *   SUFFIX  kernel-name suffix: the dtype, e.g. f32
 *   EPI_BIAS, EPI_RELU, RELU(v, V)  the epilogue's flag bits and its relu (clnet.ops.matrix
 *           defines them for both GEMM templates)
 * Sizes, strides and blocking factors are long arguments, so one build serves every shape.
 * Every kernel ends with the same epilogue: C = alpha * sum + beta * C (+ bias[j] when bit 0
 * of `epi` is set, bias element j at bias_off + j * bias_cs), then max(C, 0) when bit 1 is
 * set (EPI_RELU: a fully connected layer's relu), so neither costs a launch.
 *
 * Kernels (pack kernels take the operand's strides along the panel direction, ws, and k, ks):
 *   gemm_pack_a_SUFFIX  op(A) -> row panels of MR rows (rows past M are zero), cut along k
 *                       into blocks of KC (a multiple of KU, or >= K): block k0 holds every
 *                       panel's k0..k0+kc-1 part, element (p, k, r) at
 *                       k0 * P * MR + (p * kc + k - k0) * MR + r. Keeping a block's panels
 *                       together stops the panels a work-item walks from aliasing in cache
 *                       when K is a multiple of 1024.
 *                       A work-item packs one panel's k values kstart .. kstart + kper - 1
 *                       (kper a multiple of KU) in tiles of KU.
 *                       Launch (ceil(K / kper), P = ceil(M / MR), batch), or with wmajor != 0
 *                       (rows are the contiguous direction) (P, ceil(K / kper), batch), so
 *                       neighbouring work-items read neighbouring memory; rounded up.
 *   gemm_pack_b_SUFFIX  op(B) -> column panels of NR columns (columns past N are zero),
 *                       element (q, k, c) at (q * K + k) * NR + c.
 *                       Work per work-item and launch as for A: (ceil(K / kper), Q, batch),
 *                       or (Q, ceil(K / kper), batch) with wmajor != 0; rounded up.
 *   gemm_micro_SUFFIX   work-item (q, g, batch) computes the MR x NR blocks of C in column
 *                       panel q and row panels g * PM .. g * PM + PM - 1: for each k block
 *                       (B's KC x NR piece stays in L1 across the PM row panels) it sums
 *                       MR x NR products in MR * NV CTV registers and adds them to C.
 *                       With apacked == 0 it reads op(A) in place through (a_rs, a_cs)
 *                       instead of from the packed panels (the pack launch is skipped).
 *                       Launch (Q rounded up to the local size LQ, ceil(P / PM), batch),
 *                       local (LQ, 1, 1): a work-group's work-items reuse one A block.
 *   gemm_direct_SUFFIX  no packing: work-item (q, i, batch) computes row i, columns
 *                       q * NR .. q * NR + NR - 1 of C straight from the strided operands,
 *                       for products too small to repay the packing launches.
 *                       Launch (ceil(N / NR), M, batch), rounded up to the local size.
 *   gemm_gemv_SUFFIX    M <= 4 rows, A's rows and op(B)'s columns contiguous along k (x W^T
 *                       of a fully connected layer): work-item (q, 0, batch) computes
 *                       columns q * NJ .. q * NJ + NJ - 1 of every row, reading both operands
 *                       as CTV vectors from any element address and reducing over k in
 *                       M x NJ CTV registers. Launch (ceil(N / NJ), 1, batch), rounded up.
 * beta == 0 never reads C, so an uninitialised output cannot leak NaN into the result.
 * Products are written `a * b + c`: on pocl fma()/mad() compile to slow calls.
 */
#ifndef T
#define T float
#define CT float
#define CTV float8
#define VW 8
#define MR 4
#define NV 2
#define KU 8
#define VSTORE 1
#define SUFFIX f32
#define EPI_BIAS 1
#define EPI_RELU 2
#define RELU(v, V) max((v), (V)0)
#endif

#ifndef NJ
#define NJ 4
#endif
#define GEMV_MAX_M 4
#define NR (NV * VW)
/* CTV read from any CT-aligned address (rows of odd length): clang then emits unaligned
 * vector loads, where a plain CTV pointer would promise sizeof(CTV) alignment */
typedef CTV __attribute__((aligned(sizeof(CT)))) CTVU;
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

/* out[kk * W + w] = src[kk * ks + w * ws] for a KU x W tile. Unit strides get their own copy
 * of the loop so the compiler sees contiguous accesses; edge tiles (nk < KU or nw < W) are
 * guarded and zero-filled. */
#define PACK_LOOP(W, IDX)                                                       \
    _Pragma("unroll") for (int kk = 0; kk < KU; ++kk)                           \
        _Pragma("unroll") for (int w = 0; w < W; ++w)                           \
            out[kk * W + w] = (CT)src[IDX];
/* Full tiles as vectors, where a tile row of W values is one vector VTW (PACK_AT, PACK_BT):
 * rows contiguous along the panel direction are copied whole; rows contiguous along k are
 * read as KU-wide CTVs and transposed in private memory. NOTE: pocl: a 1.6 MB B panel set
 * packs in 100-112 us against 186-224 us for the scalar loop (contiguous rows), 90-104
 * against 113-129 us (transposed). */
#define PACK_VROWS(W, VTW)                                                      \
    _Pragma("unroll") for (int kk = 0; kk < KU; ++kk)                           \
        *(__global VTW *)(out + kk * W) = *(__global const VTW##U *)(src + kk * ks);
#define PACK_VCOLS(W, VTW) {                                                    \
        CT t[W][KU];                                                            \
        _Pragma("unroll") for (int w = 0; w < W; ++w)                           \
            *(CTV *)t[w] = *(__global const CTVU *)(src + w * ws);              \
        _Pragma("unroll") for (int kk = 0; kk < KU; ++kk) {                     \
            CT col[W];                                                          \
            _Pragma("unroll") for (int w = 0; w < W; ++w) col[w] = t[w][kk];    \
            *(__global VTW *)(out + kk * W) = *(VTW *)col;                      \
        } }
#define PACK_TILE(W, ROWS, COLS, ks, ws, nk, nw)                                \
    if (nk == KU && nw == W) {                                                  \
        if (ws == 1) { ROWS }                                                   \
        else if (ks == 1) { COLS }                                              \
        else { PACK_LOOP(W, kk * ks + w * ws) }                                 \
    } else {                                                                    \
        for (int kk = 0; kk < nk; ++kk)                                         \
            for (int w = 0; w < W; ++w)                                         \
                out[kk * W + w] = w < nw ? (CT)src[kk * ks + w * ws] : (CT)0;   \
    }

#define PACK_ROWS(W) PACK_LOOP(W, kk * ks + w)
#define PACK_COLS(W) PACK_LOOP(W, kk + w * ws)
/* Rows contiguous along k with 8 k values per vector (VW == KU == 8), W a multiple of 8:
 * each block of 8 rows is transposed by a network of swizzles (rows interleaved in pairs,
 * then pairs of pairs, then halves swapped), which clang turns into vector shuffles, instead
 * of gathering W scalars for each output vector. After the second stage u[i] holds rows 0-3
 * (u[i + 4]: rows 4-7) at k = i in its low half and k = i + 4 in its high half.
 * NOTE: pocl: W^T of 512 x 784 floats packed in 58-59 us against 93-97 for the gather
 * (one process, alternating, bit-identical panels), 512 x 512 in 43-54 against 71-79,
 * 500 x 800 in 58-61 against 89-106; shapes with few full tiles within noise.
 * The same network for A's 4-row panels gained nothing (within noise), so A keeps the
 * gather. The body has no comma outside parentheses: PACK_TILE takes it as one argument. */
#define T8_LO(a, b) ((CTV)(a.s0, b.s0, a.s1, b.s1, a.s4, b.s4, a.s5, b.s5))
#define T8_HI(a, b) ((CTV)(a.s2, b.s2, a.s3, b.s3, a.s6, b.s6, a.s7, b.s7))
#define T8_P0(a, b) ((CTV)(a.s0, a.s1, b.s0, b.s1, a.s4, a.s5, b.s4, b.s5))
#define T8_P1(a, b) ((CTV)(a.s2, a.s3, b.s2, b.s3, a.s6, a.s7, b.s6, b.s7))
#define PACK_TCOLS8(W) {                                                        \
        _Pragma("unroll") for (int w0 = 0; w0 < W; w0 += 8) {                   \
            CTV r[8]; CTV t[8]; CTV u[8];                                       \
            _Pragma("unroll") for (int w = 0; w < 8; ++w)                       \
                r[w] = *(__global const CTVU *)(src + (w0 + w) * ws);           \
            _Pragma("unroll") for (int i = 0; i < 8; i += 2) {                  \
                t[i] = T8_LO(r[i], r[i + 1]);                                   \
                t[i + 1] = T8_HI(r[i], r[i + 1]);                               \
            }                                                                   \
            _Pragma("unroll") for (int i = 0; i < 8; i += 4) {                  \
                u[i] = T8_P0(t[i], t[i + 2]);                                   \
                u[i + 1] = T8_P1(t[i], t[i + 2]);                               \
                u[i + 2] = T8_P0(t[i + 1], t[i + 3]);                           \
                u[i + 3] = T8_P1(t[i + 1], t[i + 3]);                           \
            }                                                                   \
            _Pragma("unroll") for (int i = 0; i < 4; ++i) {                     \
                *(__global CTV *)(out + i * W + w0) = (CTV)(u[i].lo, u[i + 4].lo); \
                *(__global CTV *)(out + (i + 4) * W + w0) = (CTV)(u[i].hi, u[i + 4].hi); \
            } } }
#ifdef PACK_AT
typedef PACK_AT __attribute__((aligned(sizeof(CT)))) PACK_ATU;
#define PACK_A PACK_VROWS(MR, PACK_AT), PACK_VCOLS(MR, PACK_AT)
#else
#define PACK_A PACK_ROWS(MR), PACK_COLS(MR)
#endif
#ifdef PACK_BT
typedef PACK_BT __attribute__((aligned(sizeof(CT)))) PACK_BTU;
#if VW == 8 && KU == 8 && NR % 8 == 0
#define PACK_B PACK_VROWS(NR, PACK_BT), PACK_TCOLS8(NR)
#else
#define PACK_B PACK_VROWS(NR, PACK_BT), PACK_VCOLS(NR, PACK_BT)
#endif
#else
#define PACK_B PACK_ROWS(NR), PACK_COLS(NR)
#endif
#define PACK_TILE_(...) PACK_TILE(__VA_ARGS__)

__kernel void KN(gemm_pack_a)(const long M, const long K, const long KC, const long kper,
    __global const T *a, const long a_off, const long ws, const long ks, const long a_bs,
    __global CT *dst, const long dst_bs, const int wmajor)
{
    /* get_global_id takes constant dims only on pocl: pick after reading both */
    const long g0 = get_global_id(0), g1 = get_global_id(1), b = get_global_id(2);
    const long kstart = (wmajor ? g1 : g0) * kper, p = wmajor ? g0 : g1;
    const long P = (M + MR - 1) / MR, i0 = p * MR, kstop = min(kstart + kper, K);
    if (kstart >= K || p >= P) return;
    const int nw = (int)min((long)MR, M - i0);
    for (long kb = kstart; kb < kstop; kb += KU) {
        const long k0 = kb - kb % KC;  /* KU divides KC, so a tile lies in one k block */
        const int nk = (int)min((long)KU, K - kb);
        __global const T *src = a + a_off + b * a_bs + i0 * ws + kb * ks;
        __global CT *out = dst + b * dst_bs + k0 * P * MR + (p * min(KC, K - k0) + kb - k0) * MR;
        PACK_TILE_(MR, PACK_A, ks, ws, nk, nw)
    }
}

__kernel void KN(gemm_pack_b)(const long N, const long K, const long kper,
    __global const T *bm, const long b_off, const long ws, const long ks, const long b_bs,
    __global CT *dst, const long dst_bs, const int wmajor)
{
    const long g0 = get_global_id(0), g1 = get_global_id(1), b = get_global_id(2);
    const long kstart = (wmajor ? g1 : g0) * kper, q = wmajor ? g0 : g1, j0 = q * NR;
    const long kstop = min(kstart + kper, K);
    if (kstart >= K || j0 >= N) return;
    const int nw = (int)min((long)NR, N - j0);
    for (long kb = kstart; kb < kstop; kb += KU) {
        const int nk = (int)min((long)KU, K - kb);
        __global const T *src = bm + b_off + b * b_bs + j0 * ws + kb * ks;
        __global CT *out = dst + b * dst_bs + (q * K + kb) * NR;
        PACK_TILE_(NR, PACK_B, ks, ws, nk, nw)
    }
}

/* One k block of the MR x NR register block: acc += op(A) rows (A_AT(k, r)) x B panel. */
#define MICRO_LOOP(A_AT)                                                        \
    for (long k = k0; k < k1; ++k) {                                            \
        CTV bk[NV];                                                             \
        _Pragma("unroll") for (int v = 0; v < NV; ++v)                          \
            bk[v] = pb[k * NV + v];                                             \
        _Pragma("unroll") for (int r = 0; r < MR; ++r) {                        \
            const CT ar = A_AT(k, r);                                           \
            _Pragma("unroll") for (int v = 0; v < NV; ++v)                      \
                acc[r][v] = ar * bk[v] + acc[r][v];                             \
        }                                                                       \
    }
#define A_PACKED(k, r) pa[(k) * MR + (r)]
#define A_STRIDED(k, r) (CT)ar_[r][(k) * a_cs]

__kernel void KN(gemm_micro)(const long M, const long N, const long K,
    __global const CT *ap, const long ap_bs, __global const CT *bp, const long bp_bs,
    __global T *c, const long c_off, const long ldc, const long c_bs,
    const CT alpha, const CT beta,
    __global const T *bias, const long bias_off, const long bias_cs, const int epi,
    const long PM, const long KC,
    __global const T *a, const long a_off, const long a_rs, const long a_cs, const long a_bs,
    const int apacked)
{
    const long q = get_global_id(0), g = get_global_id(1), b = get_global_id(2);
    const long P = (M + MR - 1) / MR;
    const long j0 = q * NR, p_start = g * PM, p_stop = min(p_start + PM, P);
    if (j0 >= N || p_start >= p_stop) return;
    __global const CT *pa0 = ap + b * ap_bs;
    __global const CTV *pb = (__global const CTV *)(bp + b * bp_bs + q * K * NR);
    __global T *c0 = c + c_off + b * c_bs + j0;
    __global const T *bias0 = bias + bias_off + j0 * bias_cs;
#if VSTORE
    const int vec_ok = j0 + NR <= N && ldc % VW == 0 && (size_t)c0 % sizeof(CTV) == 0 &&
                       (!(epi & EPI_BIAS) || bias_cs == 1);
    CTV bvec[NV];
    #pragma unroll
    for (int v = 0; v < NV; ++v)
        bvec[v] = (epi & EPI_BIAS) && vec_ok ? ((__global const CTVU *)bias0)[v] : (CTV)0;
#endif
    /* k0 == 0 runs once even when K == 0, so C still becomes beta * C */
    for (long k0 = 0; k0 < K || k0 == 0; k0 += KC) {
        const long k1 = min(k0 + KC, K);
        const CT bt = k0 == 0 ? beta : (CT)1;  /* later k blocks add to the partial sums */
        const int addb = (epi & EPI_BIAS) && k0 == 0;  /* the bias joins the first k block */
        const int relu = (epi & EPI_RELU) && k1 == K;  /* relu follows the last one */
        for (long p = p_start; p < p_stop; ++p) {
            CTV acc[MR][NV];
            #pragma unroll
            for (int r = 0; r < MR; ++r) {
                #pragma unroll
                for (int v = 0; v < NV; ++v)
                    acc[r][v] = (CTV)0;
            }
            const long i0 = p * MR;
            if (apacked) {
                __global const CT *pa = pa0 + k0 * P * MR + p * (k1 - k0) * MR - k0 * MR;
                MICRO_LOOP(A_PACKED)
            } else {
                /* A read in place: rows past M repeat row M - 1, their sums are dropped */
                __global const T *ar_[MR];
                #pragma unroll
                for (int r = 0; r < MR; ++r)
                    ar_[r] = a + a_off + b * a_bs + min(i0 + r, M - 1) * a_rs;
                MICRO_LOOP(A_STRIDED)
            }
            __global T *cp = c0 + i0 * ldc;
#if VSTORE
            if (vec_ok && i0 + MR <= M) {
                #pragma unroll
                for (int r = 0; r < MR; ++r) {
                    __global CTV *row = (__global CTV *)(cp + r * ldc);
                    #pragma unroll
                    for (int v = 0; v < NV; ++v) {
                        const CTV old = bt == (CT)0 ? (CTV)0 : bt * row[v];
                        const CTV val = alpha * acc[r][v] + old + (addb ? bvec[v] : (CTV)0);
                        row[v] = relu ? RELU(val, CTV) : val;
                    }
                }
                continue;
            }
#endif
            #pragma unroll
            for (int r = 0; r < MR; ++r) {
                union { CTV v[NV]; CT s[NR]; } vals;
                #pragma unroll
                for (int v = 0; v < NV; ++v)
                    vals.v[v] = acc[r][v];
                if (i0 + r < M) {
                    __global T *row = cp + r * ldc;
                    for (int e = 0; e < NR && j0 + e < N; ++e) {
                        const CT old = bt == (CT)0 ? (CT)0 : bt * (CT)row[e];
                        const CT bv = addb ? (CT)bias0[e * bias_cs] : (CT)0;
                        const CT val = alpha * vals.s[e] + old + bv;
                        row[e] = (T)(relu ? RELU(val, CT) : val);
                    }
                }
            }
        }
    }
}

__kernel void KN(gemm_direct)(const long M, const long N, const long K,
    __global const T *a, const long a_off, const long a_rs, const long a_cs, const long a_bs,
    __global const T *bm, const long b_off, const long b_rs, const long b_cs, const long b_bs,
    __global T *c, const long c_off, const long ldc, const long c_bs,
    const CT alpha, const CT beta,
    __global const T *bias, const long bias_off, const long bias_cs, const int epi)
{
    const long q = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    const long j0 = q * NR;
    if (i >= M || j0 >= N) return;
    __global const T *pa = a + a_off + b * a_bs + i * a_rs;
    __global const T *pb = bm + b_off + b * b_bs + j0 * b_cs;
    const int nc = (int)min((long)NR, N - j0);
    CT acc[NR];
    #pragma unroll
    for (int e = 0; e < NR; ++e)
        acc[e] = (CT)0;
    if (nc == NR && b_cs == 1) {
        /* contiguous full rows of B: a separate loop so the compiler can vectorise it */
        for (long k = 0; k < K; ++k) {
            const CT ak = (CT)pa[k * a_cs];
            __global const T *row = pb + k * b_rs;
            #pragma unroll
            for (int e = 0; e < NR; ++e)
                acc[e] = ak * (CT)row[e] + acc[e];
        }
    } else {
        for (long k = 0; k < K; ++k) {
            const CT ak = (CT)pa[k * a_cs];
            __global const T *row = pb + k * b_rs;
            #pragma unroll
            for (int e = 0; e < NR; ++e)
                acc[e] = ak * (e < nc ? (CT)row[e * b_cs] : (CT)0) + acc[e];
        }
    }
    __global T *out = c + c_off + b * c_bs + i * ldc + j0;
    for (int e = 0; e < nc; ++e) {
        const CT bv = (epi & EPI_BIAS) ? (CT)bias[bias_off + (j0 + e) * bias_cs] : (CT)0;
        const CT val = (beta == (CT)0 ? alpha * acc[e] : alpha * acc[e] + beta * (CT)out[e])
                       + bv;
        out[e] = (T)((epi & EPI_RELU) ? RELU(val, CT) : val);
    }
}

/* GEMV_ROWS(R): the R x NJ outputs of one work-item, reduced over k in CTV registers. */
#define GEMV_ROWS(R)                                                            \
    {                                                                           \
        CTV acc[R][NJ];                                                         \
        _Pragma("unroll") for (int r = 0; r < R; ++r)                           \
            _Pragma("unroll") for (int j = 0; j < NJ; ++j)                      \
                acc[r][j] = (CTV)0;                                             \
        for (long k = 0; k < kv; k += VW) {                                     \
            CTV av[R];                                                          \
            _Pragma("unroll") for (int r = 0; r < R; ++r)                       \
                av[r] = *(__global const CTVU *)(pa[r] + k);                    \
            _Pragma("unroll") for (int j = 0; j < NJ; ++j) {                    \
                const CTV bv = *(__global const CTVU *)(pb[j] + k);             \
                _Pragma("unroll") for (int r = 0; r < R; ++r)                   \
                    acc[r][j] = av[r] * bv + acc[r][j];                         \
            }                                                                   \
        }                                                                       \
        _Pragma("unroll") for (int r = 0; r < R; ++r)                           \
            _Pragma("unroll") for (int j = 0; j < NJ; ++j) {                    \
                union { CTV v; CT s[VW]; } u;                                   \
                u.v = acc[r][j];                                                \
                CT t = (CT)0;                                                   \
                _Pragma("unroll") for (int e = 0; e < VW; ++e)                  \
                    t += u.s[e];                                                \
                sum[r][j] = t;                                                  \
            }                                                                   \
    }

__kernel void KN(gemm_gemv)(const long M, const long N, const long K,
    __global const T *a, const long a_off, const long a_rs, const long a_bs,
    __global const T *bm, const long b_off, const long b_cs, const long b_bs,
    __global T *c, const long c_off, const long ldc, const long c_bs,
    const CT alpha, const CT beta,
    __global const T *bias, const long bias_off, const long bias_cs, const int epi)
{
    const long q = get_global_id(0), b = get_global_id(2);
    const long j0 = q * NJ;
    if (j0 >= N) return;
    const int nj = (int)min((long)NJ, N - j0);
    /* rows past M and columns past N re-read the last ones; their sums are dropped */
    __global const T *pa[GEMV_MAX_M];
    __global const T *pb[NJ];
    #pragma unroll
    for (int r = 0; r < GEMV_MAX_M; ++r)
        pa[r] = a + a_off + b * a_bs + min((long)r, M - 1) * a_rs;
    #pragma unroll
    for (int j = 0; j < NJ; ++j)
        pb[j] = bm + b_off + b * b_bs + min(j0 + j, N - 1) * b_cs;
    CT sum[GEMV_MAX_M][NJ];
#if VSTORE
    const long kv = K - K % VW;
    if (M == 1) GEMV_ROWS(1)
    else if (M == 2) GEMV_ROWS(2)
    else if (M == 3) GEMV_ROWS(3)
    else GEMV_ROWS(4)
#else
    const long kv = 0;  /* half is converted element by element below */
    #pragma unroll
    for (int r = 0; r < GEMV_MAX_M; ++r)
        #pragma unroll
        for (int j = 0; j < NJ; ++j)
            sum[r][j] = (CT)0;
#endif
    for (long k = kv; k < K; ++k) {
        #pragma unroll
        for (int r = 0; r < GEMV_MAX_M; ++r) {
            const CT ak = (CT)pa[r][k];
            #pragma unroll
            for (int j = 0; j < NJ; ++j)
                sum[r][j] = ak * (CT)pb[j][k] + sum[r][j];
        }
    }
    for (int r = 0; r < M; ++r) {
        __global T *out = c + c_off + b * c_bs + r * ldc + j0;
        for (int j = 0; j < nj; ++j) {
            const CT bv = (epi & EPI_BIAS) ? (CT)bias[bias_off + (j0 + j) * bias_cs] : (CT)0;
            const CT old = beta == (CT)0 ? (CT)0 : beta * (CT)out[j];
            const CT val = alpha * sum[r][j] + old + bv;
            out[j] = (T)((epi & EPI_RELU) ? RELU(val, CT) : val);
        }
    }
}
