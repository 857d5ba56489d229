/* GEMM for GPUs: C = alpha * op(A) * op(B) + beta * C (+ bias), batched, any transpose, the
 * operands read in place through their strides as in gemm.cl (same arguments and epilogue).
 *
 * A work-group of WX x WY work-items computes a BM x BN block of C (BM = TM * WY,
 * BN = TN * WX): for each k tile of TK it copies op(A)'s BM x TK and op(B)'s TK x BN pieces
 * into local memory, consecutive work-items reading consecutive addresses along whichever
 * direction of the operand is contiguous, then each work-item multiplies TM rows by TN
 * columns from registers. Work-item (x, y) owns rows y, y + WY, ... and columns x, x + WX,
 * ...: reads of the local tiles are then broadcasts or consecutive words (no bank conflicts),
 * and stores of C are coalesced. The tiles' rows are padded by one word so that a transposing
 * copy into them is conflict-free too. Edge tiles are zero-filled, so any shape works.
 *
 * Split k: with splits > 1, work-groups (.., .., b * splits + s) sum only k values
 * s * kchunk .. s * kchunk + kchunk - 1 and store their block to part (CT, one M x N matrix
 * per (b, s), in that order) with no epilogue; gemm_splitk_sum then adds the splits up and
 * applies it. Products with few blocks of C and a long k (weight gradients) so keep every
 * compute unit busy.
 *
 * Parameters (defines prepended by clnet.codegen.templates.render):
 *   T, CT          element type; compute type of the tiles and accumulators (float for half)
 *   TM, TN         rows and columns of C per work-item
 *   WX, WY         work-group shape (local size (WX, WY, 1))
 *   TK             k values per tile; BM * TK and TK * BN are multiples of WX * WY
 *   SUFFIX         kernel-name suffix: the dtype, e.g. f32
 *   EPI_BIAS, EPI_RELU, RELU(v, V)   the epilogue's flags and relu (as in gemm.cl)
 * Kernels:
 *   gemm_tiled_SUFFIX       launch (ceil(N / BN) * WX, ceil(M / BM) * WY, batch * splits)
 *   gemm_splitk_sum_SUFFIX  work-item (j, i, b) sums part over the splits into C(b, i, j);
 *                           launch (N, M, batch), rounded up to the local size
 * beta == 0 never reads C.
 */
#ifndef T
#define T float
#define CT float
#define TM 8
#define TN 8
#define WX 16
#define WY 16
#define TK 16
#define SUFFIX f32
#define EPI_BIAS 1
#define EPI_RELU 2
#define RELU(v, V) max((v), (V)0)
#endif

#define BM (TM * WY)
#define BN (TN * WX)
#define NT (WX * WY)
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define KN(base) CAT(base, SUFFIX)
#define INLINE static inline __attribute__((always_inline))

#define C_ARGS __global T *c, const long c_off, const long ldc, const long c_bs,           \
    const CT alpha, const CT beta,                                                        \
    __global const T *bias, const long bias_off, const long bias_cs, const int epi

/* C(b, i, j) = alpha * sum + beta * C (+ bias[j] with EPI_BIAS, then max(., 0) with
 * EPI_RELU, bits of epi); beta == 0 never reads C. */
INLINE void store_c(const long b, const long i, const long j, const CT sum, C_ARGS) {
    __global T *out = c + c_off + b * c_bs + i * ldc + j;
    const CT bv = (epi & EPI_BIAS) ? (CT)bias[bias_off + j * bias_cs] : (CT)0;
    const CT old = beta == (CT)0 ? (CT)0 : beta * (CT)*out;
    const CT val = alpha * sum + old + bv;
    *out = (T)((epi & EPI_RELU) ? RELU(val, CT) : val);
}
#define C_PASS c, c_off, ldc, c_bs, alpha, beta, bias, bias_off, bias_cs, epi

__kernel __attribute__((reqd_work_group_size(WX, WY, 1)))
void KN(gemm_tiled)(const long M, const long N, const long K,
    __global const T *a, const long a_off, const long a_rs, const long a_cs, const long a_bs,
    __global const T *bm, const long b_off, const long b_rs, const long b_cs, const long b_bs,
    C_ARGS, const long kchunk, const int splits, __global CT *part)
{
    __local CT as[TK][BM + 1];
    __local CT bs[TK][BN + 1];
    const int x = get_local_id(0), y = get_local_id(1), tid = y * WX + x;
    const long j0 = get_group_id(0) * BN, i0 = get_group_id(1) * BM, z = get_global_id(2);
    const long b = z / splits, kbeg = (z - b * splits) * kchunk, kend = min(K, kbeg + kchunk);
    __global const T *pa = a + a_off + b * a_bs;
    __global const T *pb = bm + b_off + b * b_bs;
    /* which way the copies walk: along k where A's rows are contiguous, along n where B's */
    const int a_along_k = a_cs == 1 && a_rs != 1, b_along_n = b_cs == 1;
    CT acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; ++i) {
        #pragma unroll
        for (int j = 0; j < TN; ++j)
            acc[i][j] = (CT)0;
    }
    for (long k0 = kbeg; k0 < kend; k0 += TK) {
        #pragma unroll
        for (int l = 0; l < BM * TK / NT; ++l) {
            const int e = tid + l * NT;
            const int kk = a_along_k ? e % TK : e / BM, r = a_along_k ? e / TK : e % BM;
            const long gi = i0 + r, gk = k0 + kk;
            as[kk][r] = gi < M && gk < kend ? (CT)pa[gi * a_rs + gk * a_cs] : (CT)0;
        }
        #pragma unroll
        for (int l = 0; l < TK * BN / NT; ++l) {
            const int e = tid + l * NT;
            const int kk = b_along_n ? e / BN : e % TK, q = b_along_n ? e % BN : e / TK;
            const long gj = j0 + q, gk = k0 + kk;
            bs[kk][q] = gj < N && gk < kend ? (CT)pb[gk * b_rs + gj * b_cs] : (CT)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int kk = 0; kk < TK; ++kk) {
            CT ar[TM], br[TN];
            #pragma unroll
            for (int i = 0; i < TM; ++i)
                ar[i] = as[kk][y + i * WY];
            #pragma unroll
            for (int j = 0; j < TN; ++j)
                br[j] = bs[kk][x + j * WX];
            #pragma unroll
            for (int i = 0; i < TM; ++i) {
                #pragma unroll
                for (int j = 0; j < TN; ++j)
                    acc[i][j] = ar[i] * br[j] + acc[i][j];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    #pragma unroll
    for (int i = 0; i < TM; ++i) {
        const long gi = i0 + y + i * WY;
        if (gi >= M)
            continue;
        #pragma unroll
        for (int j = 0; j < TN; ++j) {
            const long gj = j0 + x + j * WX;
            if (gj >= N)
                continue;
            if (splits > 1)
                part[(z * M + gi) * N + gj] = acc[i][j];
            else
                store_c(b, gi, gj, acc[i][j], C_PASS);
        }
    }
}

__kernel void KN(gemm_splitk_sum)(const long M, const long N, const long splits,
                                  __global const CT *part, C_ARGS)
{
    const long j = get_global_id(0), i = get_global_id(1), b = get_global_id(2);
    if (i >= M || j >= N)
        return;
    __global const CT *p = part + (b * splits * M + i) * N + j;
    CT sum = (CT)0;
    for (long s = 0; s < splits; ++s)
        sum += p[s * M * N];
    store_c(b, i, j, sum, C_PASS);
}
