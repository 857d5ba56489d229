/* GEMM: C = alpha * op(A) * op(B) + beta * C, batched, any shape, any transpose.
 *
 * op(A) is M x K and op(B) is K x N; each is read through (row stride, column stride) in
 * elements, so a transpose is a swap of strides and dense NDArrays need no copy. Batches are
 * given by a batch stride per operand (0 repeats one matrix for every batch).
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T       element type of A, B and C (float, double, half)
 *   CT      compute type: packed panels and accumulators (float for half)
 *   CTV     vector of VW CT values (float8): B panels are loaded through a CTV pointer
 *   VW      vector width of CTV
 *   MR      rows of C per work-item in gemm_micro (register block height)
 *   NV      CTV vectors per row of the register block, so NR = NV * VW columns
 *   VSTORE  1 when T == CT: full blocks of C are stored as CTV where aligned
 *   SUFFIX  kernel-name suffix: the dtype, e.g. f32
 * Kernels (sizes and strides are long arguments, so one build serves every shape):
 *   gemm_pack_a_SUFFIX  op(A) -> panels of MR rows, k-major: panel p, k, r at
 *                       (p * K + k) * MR + r; rows past M are zero.
 *                       3-D launch (K, ceil(M / MR), batch).
 *   gemm_pack_b_SUFFIX  op(B) -> panels of NR columns, k-major: panel q, k, c at
 *                       (q * K + k) * NR + c; columns past N are zero.
 *                       3-D launch (K, ceil(N / NR), batch).
 *   gemm_micro_SUFFIX   one MR x NR block of C per work-item from one A and one B panel,
 *                       accumulated in MR * NV CTV registers over all of K.
 *                       3-D launch (ceil(M / MR), ceil(N / NR), batch), rounded up to the
 *                       local size (guarded).
 *   gemm_direct_SUFFIX  no packing: one element of C per work-item straight from the strided
 *                       operands; for products too small to repay the packing launches.
 *                       3-D launch (N, M, batch), rounded up (guarded).
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
#define VSTORE 1
#define SUFFIX f32
#endif

#define NR (NV * VW)
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)

__kernel void KN(gemm_pack_a)(const long M, const long K,
    __global const T *a, const long a_off, const long a_rs, const long a_cs, const long a_bs,
    __global CT *dst, const long dst_bs)
{
    const long k = get_global_id(0), p = get_global_id(1), b = get_global_id(2);
    if (k >= K) return;
    __global const T *src = a + a_off + b * a_bs + k * a_cs;
    __global CT *out = dst + b * dst_bs + (p * K + k) * MR;
    const long i0 = p * MR;
    #pragma unroll
    for (int r = 0; r < MR; ++r) {
        const long i = i0 + r;
        out[r] = i < M ? (CT)src[i * a_rs] : (CT)0;
    }
}

__kernel void KN(gemm_pack_b)(const long N, const long K,
    __global const T *bm, const long b_off, const long b_rs, const long b_cs, const long b_bs,
    __global CT *dst, const long dst_bs)
{
    const long k = get_global_id(0), q = get_global_id(1), b = get_global_id(2);
    if (k >= K) return;
    __global const T *src = bm + b_off + b * b_bs + k * b_rs;
    __global CT *out = dst + b * dst_bs + (q * K + k) * NR;
    const long j0 = q * NR;
    if (j0 + NR <= N) {
        #pragma unroll
        for (int c = 0; c < NR; ++c)
            out[c] = (CT)src[(j0 + c) * b_cs];
    } else {
        for (int c = 0; c < NR; ++c) {
            const long j = j0 + c;
            out[c] = j < N ? (CT)src[j * b_cs] : (CT)0;
        }
    }
}

__kernel void KN(gemm_micro)(const long M, const long N, const long K,
    __global const CT *ap, const long ap_bs, __global const CT *bp, const long bp_bs,
    __global T *c, const long c_off, const long ldc, const long c_bs,
    const CT alpha, const CT beta)
{
    const long p = get_global_id(0), q = get_global_id(1), b = get_global_id(2);
    const long i0 = p * MR, j0 = q * NR;
    if (i0 >= M || j0 >= N) return;
    __global const CT *pa = ap + b * ap_bs + p * K * MR;
    __global const CTV *pb = (__global const CTV *)(bp + b * bp_bs + q * K * NR);

    CTV acc[MR][NV];
    #pragma unroll
    for (int r = 0; r < MR; ++r) {
        #pragma unroll
        for (int v = 0; v < NV; ++v)
            acc[r][v] = (CTV)0;
    }
    for (long k = 0; k < K; ++k) {
        CTV bk[NV];
        #pragma unroll
        for (int v = 0; v < NV; ++v)
            bk[v] = pb[k * NV + v];
        #pragma unroll
        for (int r = 0; r < MR; ++r) {
            const CT ar = pa[k * MR + r];
            #pragma unroll
            for (int v = 0; v < NV; ++v)
                acc[r][v] = ar * bk[v] + acc[r][v];
        }
    }

    __global T *cp = c + c_off + b * c_bs + i0 * ldc + j0;
    const int full = i0 + MR <= M && j0 + NR <= N;
#if VSTORE
    if (full && ldc % VW == 0 && (size_t)cp % sizeof(CTV) == 0) {
        #pragma unroll
        for (int r = 0; r < MR; ++r) {
            __global CTV *row = (__global CTV *)(cp + r * ldc);
            #pragma unroll
            for (int v = 0; v < NV; ++v)
                row[v] = beta == (CT)0 ? alpha * acc[r][v] : alpha * acc[r][v] + beta * row[v];
        }
        return;
    }
#endif
    #pragma unroll
    for (int r = 0; r < MR; ++r) {
        CT vals[NR];
        #pragma unroll
        for (int v = 0; v < NV; ++v)
            *(CTV *)(vals + v * VW) = acc[r][v];
        if (i0 + r >= M) break;
        __global T *row = cp + r * ldc;
        for (int e = 0; e < NR; ++e) {
            if (!full && j0 + e >= N) break;
            const CT old = beta == (CT)0 ? (CT)0 : beta * (CT)row[e];
            row[e] = (T)(alpha * vals[e] + old);
        }
    }
}

__kernel void KN(gemm_direct)(const long M, const long N, const long K,
    __global const T *a, const long a_off, const long a_rs, const long a_cs, const long a_bs,
    __global const T *bm, const long b_off, const long b_rs, const long b_cs, const long b_bs,
    __global T *c, const long c_off, const long ldc, const long c_bs,
    const CT alpha, const CT beta)
{
    const long j = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    if (i >= M || j >= N) return;
    __global const T *pa = a + a_off + b * a_bs + i * a_rs;
    __global const T *pb = bm + b_off + b * b_bs + j * b_cs;
    CT acc = (CT)0;
    for (long k = 0; k < K; ++k)
        acc = (CT)pa[k * a_cs] * (CT)pb[k * b_rs] + acc;
    __global T *out = c + c_off + b * c_bs + i * ldc + j;
    *out = (T)(beta == (CT)0 ? alpha * acc : alpha * acc + beta * (CT)*out);
}
